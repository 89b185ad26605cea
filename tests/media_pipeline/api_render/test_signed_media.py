"""Signed media URLs of the v1 API: every media URL an answer hands out opens with no header
(<img>, <video>, <a download>), with Range and HEAD; an expired, altered, moved or foreign one
is refused, and a signature never authorises anything but a GET of its own path."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from core.media_urls import signed_url
from jobs import services
from jobs.models import JobFile
from media_pipeline.library.models import Export, ExportPreset
from tests.media_pipeline.api_render.conftest import API, make_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous():
    return Client()  # no header, no cookie: what a media element sends


def _sig(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def _with_sig(path: str, sig: str, **extra) -> str:
    return f"{path}?{urlencode({'sig': sig, **extra})}"


def _refused(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json()["detail"], str)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def job_file(user, tmp_path):
    job = services.job_create(job_type="noop", owner=user)
    source = tmp_path / "out.txt"
    source.write_bytes(b"0123456789" * 10)
    services.job_file_store(job_id=job.id, local_path=source, role=JobFile.Role.OUTPUT, label="out")
    return job


@pytest.mark.django_db(transaction=True)  # the job poll reads on its own ORM thread
def test_a_job_files_download_url_opens_without_a_header(api, anonymous, job_file):
    url = api.get(f"/api/v1/jobs/{job_file.id}").json()["files"][0]["download_url"]
    assert urlsplit(url).path == f"/api/v1/jobs/{job_file.id}/files/{job_file.files.get().id}"
    response = anonymous.get(url)
    assert response.status_code == 200 and _body(response) == b"0123456789" * 10
    assert response["Content-Disposition"].startswith("attachment")
    assert anonymous.get(urlsplit(url).path).status_code == 401  # the signature is what opens it


def test_every_library_media_url_opens_without_a_header(
    api, anonymous, user, clip, source, segment
):
    clip.thumbnail.save("thumb.jpg", ContentFile(b"\xff\xd8clip-thumb"))
    source.thumbnail.save("thumb.jpg", ContentFile(b"\xff\xd8source-thumb"))
    segment.extracted_file.save("segment.mp4", ContentFile(b"segment-bytes"))
    preset = ExportPreset.objects.get(name="tiktok")
    export = Export.objects.create(clip=clip, preset=preset, status=Export.Status.COMPLETED)
    export.file.save("render.mp4", ContentFile(b"rendered-bytes"))

    clip_out = api.get(f"{API}/clips/{clip.id}").json()
    source_out = api.get(f"{API}/source-videos/{source.id}").json()
    segment_out = api.get(f"{API}/segments/{segment.id}").json()
    progress = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    expected = {
        clip_out["file_url"]: clip.file,
        clip_out["thumbnail_url"]: clip.thumbnail,
        source_out["stream_url"]: source.file,
        source_out["thumbnail_url"]: source.thumbnail,
        segment_out["stream_url"]: segment.extracted_file,
        progress["download_url"]: export.file,
    }
    for url, field in expected.items():
        response = anonymous.get(url)
        assert response.status_code == 200, (url, response.content)
        with field.open("rb") as fh:
            assert _body(response) == fh.read(), url
    # the same links in the lists
    listed = api.get(f"{API}/clips").json()["items"][0]
    assert listed["file_url"] == clip_out["file_url"]  # stable: a polling page keeps its <video>


def test_no_url_for_media_that_does_not_exist(api, user, media, source, segment):
    bare = make_clip(user)
    assert api.get(f"{API}/clips/{bare.id}").json()["file_url"] is None
    assert api.get(f"{API}/source-videos/{source.id}").json()["thumbnail_url"] is None
    assert api.get(f"{API}/segments/{segment.id}").json()["stream_url"] is None


def test_range_head_download_and_cache_buster_with_a_signed_url(api, anonymous, source):
    url = api.get(f"{API}/source-videos/{source.id}").json()["stream_url"]
    size = source.file.size
    part = anonymous.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 10-19/{size}"
    with source.file.open("rb") as fh:
        assert _body(part) == fh.read()[10:20]
    head = anonymous.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(size)
    assert head["Accept-Ranges"] == "bytes" and _body(head) == b""
    head_part = anonymous.head(url, HTTP_RANGE="bytes=0-9")
    assert head_part.status_code == 206 and head_part["Content-Length"] == "10"
    assert anonymous.get(url)["Content-Disposition"].startswith("inline")
    saved = anonymous.get(f"{url}&download=true&v=42")
    assert saved.status_code == 200 and saved["Content-Disposition"].startswith("attachment")
    _refused(anonymous.get(f"{url}&format=webm"), 422)  # an unknown field, even here


def test_every_api_get_answers_head(api):
    get, head = api.get(f"{API}/export-presets"), api.head(f"{API}/export-presets")
    assert head.status_code == get.status_code == 200 and head.content == b""
    assert head["Content-Length"] == str(len(get.content))
    assert head["Content-Type"] == get["Content-Type"]


def test_an_expired_link_is_refused(anonymous, user, clip):
    path = f"{API}/clips/{clip.id}/file"
    _refused(anonymous.get(signed_url(path, owner_id=user.id, ttl=-60)), 401)
    assert anonymous.get(signed_url(path, owner_id=user.id)).status_code == 200


@pytest.mark.parametrize("position", [1, 20, -3])
def test_an_altered_link_is_refused(anonymous, user, clip, position):
    path = f"{API}/clips/{clip.id}/file"
    sig = list(_sig(signed_url(path, owner_id=user.id)))
    sig[position] = "A" if sig[position] != "A" else "B"
    _refused(anonymous.get(_with_sig(path, "".join(sig))), 401)


def test_a_link_opens_only_its_own_object(anonymous, user, media):
    first, second = make_clip(user, media.video(seconds=1)), make_clip(user, media.video(seconds=1))
    sig = _sig(signed_url(f"{API}/clips/{first.id}/file", owner_id=user.id))
    assert anonymous.get(_with_sig(f"{API}/clips/{first.id}/file", sig)).status_code == 200
    _refused(anonymous.get(_with_sig(f"{API}/clips/{second.id}/file", sig)), 401)
    _refused(anonymous.get(_with_sig(f"{API}/clips/{first.id}/thumbnail", sig)), 401)


def test_a_link_to_another_users_object_is_not_found(anonymous, user, other_user, media):
    theirs = make_clip(other_user, media.video(seconds=1))
    _refused(anonymous.get(signed_url(f"{API}/clips/{theirs.id}/file", owner_id=user.id)), 404)


def test_a_deactivated_owners_links_are_refused(anonymous, user, clip):
    url = signed_url(f"{API}/clips/{clip.id}/file", owner_id=user.id)
    user.is_active = False
    user.save()
    _refused(anonymous.get(url), 401)


def test_a_signature_authorises_no_write(anonymous, user, job_file):
    cancel = f"/api/v1/jobs/{job_file.id}/cancel"
    _refused(anonymous.post(signed_url(cancel, owner_id=user.id)), 401)
    detail = f"/api/v1/jobs/{job_file.id}"
    _refused(anonymous.delete(signed_url(detail, owner_id=user.id)), 401)
    job_file.refresh_from_db()
    assert job_file.status == "queued"


def test_a_signature_opens_no_json_endpoint(anonymous, user, clip):
    _refused(anonymous.get(signed_url(f"{API}/clips/{clip.id}", owner_id=user.id)), 401)
