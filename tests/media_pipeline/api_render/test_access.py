"""Every endpoint: another user's object is a 404 (while its owner gets an answer), and no
credentials is a 401."""

import json

import pytest
from django.core.files import File
from django.utils import timezone

from media_pipeline.library.models import Export, ExportPreset, Segment, SourceVideo
from tests.media_pipeline.api_render.conftest import API, make_clip, make_source

pytestmark = pytest.mark.django_db

SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello\n"

# (method, path, body): {clip}, {source}, {segment}, {project} are the first user's ids.
OBJECT_ENDPOINTS = [
    ("post", "/clips/{clip}/render", {"preset": "tiktok"}),
    ("post", "/clips/bulk-render", {"clip_ids": ["{clip}"], "preset": "tiktok"}),
    ("get", "/clips/{clip}/render/progress", None),
    ("get", "/clips/{clip}/download", None),
    ("get", "/source-videos/{source}", None),
    ("patch", "/source-videos/{source}", {"name": "x"}),
    ("delete", "/source-videos/{source}", None),
    ("get", "/source-videos/{source}/stream", None),
    ("get", "/source-videos/{source}/thumbnail", None),
    ("post", "/source-videos/{source}/segments", {"start": 0, "end": 1}),
    ("get", "/segments/{segment}", None),
    ("patch", "/segments/{segment}", {"notes": "x"}),
    ("delete", "/segments/{segment}", None),
    ("post", "/segments/{segment}/favorite", {}),
    ("post", "/segments/{segment}/extract", None),
    ("get", "/segments/{segment}/stream", None),
    ("post", "/match-srt", {"srt": SRT, "source_video_id": "{source}"}),
    ("post", "/projects/{project}/assign-segments", {"segment_ids": ["{segment}"]}),
]
OTHER_ENDPOINTS = [
    ("get", "/export-presets", None),
    ("get", "/source-videos", None),
    ("post", "/source-videos", None),
    ("get", "/segments", None),
]


@pytest.fixture
def world(user, media):
    """One of everything, owned by `user`, with every file present."""
    source = make_source(user, media.video(seconds=2))
    with open(media.video(seconds=1), "rb") as fh:
        source.thumbnail.save("t.jpg", File(fh), save=True)
    segment = Segment.objects.create(
        owner=user, source_video=source, start=0, end=1, keywords=["hello"]
    )
    with open(media.video(seconds=1), "rb") as fh:
        segment.extracted_file.save("s.mp4", File(fh), save=True)
    clip = make_clip(user, media.video(seconds=1))
    export = Export(
        clip=clip,
        preset=ExportPreset.objects.get(name="tiktok"),
        status=Export.Status.COMPLETED,
        completed_at=timezone.now(),
    )
    with open(media.video(seconds=1), "rb") as fh:
        export.file.save("e.mp4", File(fh), save=True)
    return {"clip": clip.id, "source": source.id, "segment": segment.id, "project": clip.project_id}


def _fill(value, ids):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _call(client, method, path, body, ids):
    url = API + path.format(**ids)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(
        url, json.dumps(_fill(body, ids)), content_type="application/json"
    )


@pytest.mark.parametrize(("method", "path", "body"), OBJECT_ENDPOINTS)
def test_another_users_object_is_404(api, other_api, world, method, path, body):
    response = _call(other_api, method, path, body, world)
    assert response.status_code == 404, (path, response.content)
    assert response.json()["error"]["code"] == "not_found"
    assert SourceVideo.objects.filter(id=world["source"], name="source").exists()
    assert Segment.objects.filter(id=world["segment"], notes="").exists()
    owner = _call(api, method, path, body, world)  # the same request works for its owner
    assert owner.status_code in (200, 201, 202, 206), (path, owner.content)


def test_lists_show_only_your_own(api, other_api, world):
    for client, count in ((other_api, 0), (api, 1)):
        assert client.get(f"{API}/source-videos").json()["total"] == count
        assert client.get(f"{API}/segments").json()["total"] == count
        matched = client.post(
            f"{API}/match-srt", json.dumps({"srt": SRT}), content_type="application/json"
        )
        assert matched.json()["matched_cues"] == count


@pytest.mark.parametrize(("method", "path", "body"), OBJECT_ENDPOINTS + OTHER_ENDPOINTS)
def test_no_credentials_is_401(client, world, method, path, body):
    response = _call(client, method, path, body, world)
    assert response.status_code == 401, (path, response.content)
    assert response.json()["error"]["code"] == "unauthenticated"
