"""Source videos through the API: upload (probed, thumbnail), list, rename, stream, delete."""

import pytest
from django.core.files import File
from django.core.files.storage import default_storage

from media_pipeline.library.models import Segment, SourceVideo
from media_pipeline.ops.probe import probe_media
from tests.media_pipeline.api_render.conftest import API, make_source, patch_json

pytestmark = pytest.mark.django_db


def _upload(api, path, **extra):
    with open(path, "rb") as fh:
        return api.post(f"{API}/source-videos", {"file": fh, **extra})


def test_upload_probes_and_makes_a_thumbnail(api, user, media):
    path = media.video(seconds=2, size="320x240")
    response = _upload(api, path, name="  Beach day ")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Beach day" and body["has_thumbnail"]
    assert (body["width"], body["height"], body["fps"]) == (320, 240, 25.0)
    assert body["duration"] == pytest.approx(2.0, abs=0.1)
    assert body["media_info"]["video_codec"] == "h264"
    video = SourceVideo.objects.get(id=body["id"], owner=user)
    assert body["media_info"] == video.media_info == probe_media(path).as_dict()
    assert default_storage.exists(video.file.name) and default_storage.exists(video.thumbnail.name)
    assert video.file.name.startswith("library/sourcevideo/")
    thumb = api.get(f"{API}/source-videos/{video.id}/thumbnail")
    assert thumb["Content-Type"] == "image/jpeg"
    assert b"".join(thumb.streaming_content)[:2] == b"\xff\xd8"  # a JPEG


def test_upload_without_name_uses_the_file_name(api, media):
    body = _upload(api, media.video()).json()
    assert body["name"].endswith(".mp4")


@pytest.mark.parametrize(
    ("make", "status"),
    [("text_file", 415), ("empty_file", 422), ("audio", 422)],
)
def test_bad_uploads_are_refused_and_store_nothing(api, media, make, status):
    response = _upload(api, getattr(media, make)())
    assert response.status_code == status, response.content
    assert not SourceVideo.objects.exists()


def test_upload_needs_a_file(api):
    assert api.post(f"{API}/source-videos", {}).status_code == 422


def test_list_get_and_rename(api, user, other_user, media):
    first = make_source(user, media.video(), name="first")
    second = make_source(user, media.video(), name="second")
    make_source(other_user, media.video(), name="not mine")
    page = api.get(f"{API}/source-videos", {"limit": 1}).json()
    assert page["total"] == 2 and [v["id"] for v in page["items"]] == [second.id]
    assert api.get(f"{API}/source-videos/{first.id}").json()["name"] == "first"
    renamed = patch_json(api, f"{API}/source-videos/{first.id}", {"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    assert patch_json(api, f"{API}/source-videos/{first.id}", {"name": "  "}).status_code == 422


def test_stream_supports_range(api, source):
    size = default_storage.size(source.file.name)
    whole = api.get(f"{API}/source-videos/{source.id}/stream")
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    assert whole["Content-Disposition"].startswith("inline;")
    part = api.get(f"{API}/source-videos/{source.id}/stream", HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 0-9/{size}"
    with default_storage.open(source.file.name, "rb") as fh:
        assert b"".join(part.streaming_content) == fh.read(10)
    beyond = api.get(f"{API}/source-videos/{source.id}/stream", HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416


def _store(field, path, name):
    with open(path, "rb") as fh:
        field.save(name, File(fh), save=True)


def test_delete_removes_files_and_segments(api, source, segment, media):
    _store(segment.extracted_file, media.video(seconds=1), "segment.mp4")
    _store(source.thumbnail, media.video(seconds=1), "thumbnail.jpg")
    names = [source.file.name, source.thumbnail.name, segment.extracted_file.name]
    assert all(default_storage.exists(n) for n in names)
    body = api.delete(f"{API}/source-videos/{source.id}").json()
    assert body == {"deleted": True, "files_deleted": 3, "segments_deleted": 1}
    assert not any(default_storage.exists(n) for n in names)
    assert not SourceVideo.objects.exists() and not Segment.objects.exists()
    assert api.get(f"{API}/source-videos/{source.id}").status_code == 404
