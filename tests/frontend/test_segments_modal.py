"""The Library page's segment modal, sent exactly as the page sends it (contract 4.2, 5.11,
5.12, M9): source videos, their segments, a new segment, the player's stream (no header: the
signed id opens it), and the project's assigned segments."""

import time

import pytest
from django.test import Client

from core.media_urls import signed_object_id
from media_pipeline.library.models import Project, ProjectSegment, Segment
from tests.frontend.library_fixtures import (  # noqa: F401 - fixtures
    BASE,
    body_of,
    segment,
    send_json,
    shrunk_presets,
    stored_source,
)

pytestmark = pytest.mark.django_db(transaction=True)
SEGMENT_KEYS = {
    "id", "source_video_id", "start_time", "end_time", "duration", "keywords",
    "source_video_name", "usage_count", "is_favorite", "notes", "created_at",
}  # fmt: skip


@pytest.fixture
def source(user, media):
    return stored_source(user, media.video(seconds=4), name="beach.mp4")


def _listing(api):
    response = api.get(f"{BASE}/segments/source-videos")
    assert response.status_code == 200
    return response.json()


def test_source_videos_are_a_bare_array_with_counts_and_stable_signed_ids(
    api, user, other_user, media, source
):
    segment(source, 0.0, 1.0)
    segment(source, 2.0, 3.0)
    stored_source(other_user, media.video(seconds=1))
    videos = _listing(api)
    assert isinstance(videos, list) and len(videos) == 1
    [video] = videos
    assert (video["name"], video["segments_count"]) == ("beach.mp4", 2)
    assert video["duration"] == pytest.approx(4, abs=0.1)
    assert video["id"].startswith(f"{source.id}.") and video["id"].count(".") == 2
    assert _listing(api)[0]["id"] == video["id"]  # the same id within a window


def test_segments_of_a_video_sorted_by_start(api, source):
    late = segment(source, 2.5, 3.5, ["sunset"])
    early = segment(source, 0.5, 1.5, ["wave", "sand"])
    video_id = _listing(api)[0]["id"]
    for vid in (video_id, str(source.id)):  # with the Bearer token the signature is not needed
        response = api.get(f"{BASE}/segments/source-videos/{vid}/segments")
        assert response.status_code == 200
        segments = response.json()
        assert [s["id"] for s in segments] == [str(early.id), str(late.id)]
    first = segments[0]
    assert SEGMENT_KEYS <= set(first)
    assert (first["start_time"], first["end_time"], first["duration"]) == (0.5, 1.5, 1.0)
    assert first["keywords"] == ["wave", "sand"] and first["source_video_name"] == "beach.mp4"
    assert first["source_video_id"] == video_id


def test_create_segment_as_the_player_sends_it(api, source):
    video_id = _listing(api)[0]["id"]
    body = {"start_time": 1.04, "end_time": 2.56, "keywords": ["beach", "sun"], "notes": ""}
    response = send_json(api, "post", f"/segments/source-videos/{video_id}/segments", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["start_time"], created["end_time"], created["keywords"]) == (
        1.04,
        2.56,
        ["beach", "sun"],
    )
    assert created["duration"] == pytest.approx(1.52) and created["source_video_id"] == video_id
    row = Segment.objects.get(id=created["id"])
    assert (row.start, row.end, row.source_video_id) == (1.04, 2.56, source.id)
    empty = {"start_time": 0, "end_time": 0.5, "keywords": [], "notes": ""}
    assert (
        send_json(api, "post", f"/segments/source-videos/{video_id}/segments", empty).json()[
            "keywords"
        ]
        == []
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"start_time": 2.0, "end_time": 1.0, "keywords": [], "notes": ""}, "end_time"),
        ({"start_time": 1.0, "end_time": 9.0, "keywords": [], "notes": ""}, "end_time"),
        ({"start_time": 1.0, "end_time": 2.0, "keywords": None, "notes": ""}, "keywords"),
        ({"start_time": 1.0, "end_time": 2.0, "keywords": [], "notes": "", "x": 1}, "x"),
    ],
)
def test_create_segment_refusals_name_the_pages_field(api, source, body, field):
    video_id = _listing(api)[0]["id"]
    response = send_json(api, "post", f"/segments/source-videos/{video_id}/segments", body)
    assert response.status_code == 422, response.content
    assert f"'{field}'" in response.json()["detail"], response.json()
    assert not Segment.objects.exists()


def test_stream_needs_no_header_and_seeks_with_range(api, source, media):
    video_id = _listing(api)[0]["id"]
    player = Client()  # <video src>: no Authorization header
    whole = player.get(f"{BASE}/segments/source-videos/{video_id}/stream")
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    assert whole["Accept-Ranges"] == "bytes"
    assert body_of(whole) == media.video(seconds=4).read_bytes()
    part = player.get(f"{BASE}/segments/source-videos/{video_id}/stream", HTTP_RANGE="bytes=100-")
    assert part.status_code == 206
    assert part["Content-Range"].startswith("bytes 100-")
    assert body_of(part) == media.video(seconds=4).read_bytes()[100:]


def test_stream_refuses_tampered_expired_foreign_or_unsigned_ids(api, user, media, source):
    other = stored_source(user, media.video(seconds=1))
    pk, expiry, signature = _listing(api)[1]["id"].split(".")  # newest first: `source` is second
    assert pk == str(source.id)
    player = Client()
    refused = {
        "tampered": f"{pk}.{expiry}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "longer": f"{pk}.{int(expiry) + 3600}.{signature}",
        "other video": f"{other.id}.{expiry}.{signature}",
        "unsigned": pk,
        "expired": signed_object_id("source_video", source.id, ttl=-60),
    }
    for what, video_id in refused.items():
        response = player.get(f"{BASE}/segments/source-videos/{video_id}/stream")
        assert response.status_code in (404, 422), what
        assert isinstance(response.json()["detail"], str), what
    expired = player.get(f"{BASE}/segments/source-videos/{refused['expired']}/stream")
    assert "expired" in expired.json()["detail"]


def test_ids_expire_after_the_media_url_ttl(api, source, settings):
    settings.MEDIA_URL_TTL = 2
    video_id = _listing(api)[0]["id"]
    assert int(video_id.split(".")[1]) <= time.time() + 2
    assert Client().get(f"{BASE}/segments/source-videos/{video_id}/stream").status_code == 200
    time.sleep(2.1)
    assert Client().get(f"{BASE}/segments/source-videos/{video_id}/stream").status_code == 422


def test_assign_in_selection_order_then_the_projects_segments(api, user, source):
    project = Project.objects.create(owner=user, name="P")
    a, b, c = (segment(source, n, n + 0.5) for n in (0.0, 1.0, 2.0))
    response = api.post(
        f"{BASE}/segments/projects/{project.id}/assign", {"segment_ids": [str(c.id), str(a.id)]}
    )
    assert response.status_code == 200, response.content
    assigned = api.get(f"{BASE}/segments/projects/{project.id}/segments")
    assert assigned.status_code == 200
    assert [s["id"] for s in assigned.json()] == [str(c.id), str(a.id)]
    assert assigned.json()[0]["source_video_name"] == "beach.mp4"
    # saving a new selection replaces the old one
    api.post(f"{BASE}/segments/projects/{project.id}/assign", {"segment_ids": [str(b.id)]})
    assert [s["id"] for s in api.get(f"{BASE}/segments/projects/{project.id}/segments").json()] == [
        str(b.id)
    ]
    assert list(ProjectSegment.objects.values_list("segment_id", flat=True)) == [b.id]


def test_assign_refusals(api, other_api, user, other_user, media, source):
    project = Project.objects.create(owner=user, name="P")
    mine = segment(source, 0.0, 1.0)
    theirs = segment(stored_source(other_user, media.video(seconds=2)), 0.0, 1.0)
    url = f"{BASE}/segments/projects/{project.id}/assign"
    foreign = api.post(url, {"segment_ids": [str(mine.id), str(theirs.id)]})
    assert foreign.status_code == 404 and str(theirs.id) in foreign.json()["detail"]
    missing = api.post(url, {})
    assert missing.status_code == 422 and "'segment_ids'" in missing.json()["detail"]
    extra = api.post(url, {"segment_ids": [str(mine.id)], "mode": "all"})
    assert extra.status_code == 422 and "'mode'" in extra.json()["detail"]
    assert other_api.post(url, {"segment_ids": [str(mine.id)]}).status_code == 404
    assert other_api.get(f"{BASE}/segments/projects/{project.id}/segments").status_code == 404
    assert not ProjectSegment.objects.exists()
