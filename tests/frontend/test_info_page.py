"""The main page's synchronous media calls, sent exactly as the page sends them (contract 4.1,
5.3, 5.4, 1.6): `POST /video-info` (multipart `video`) and `POST /analyze` (multipart `video`,
`target_duration` as an integer string), answered after a real worker ran the job; past the
wait a 504 naming the job; bad media and bad fields a 4xx whose `detail` says what is wrong."""

import struct

import pytest
from django.test import Client

from jobs.models import Job
from jobs.status import JobStatus
from tests.frontend.library_fixtures import BASE

pytestmark = pytest.mark.django_db(transaction=True)


def _post(client, path: str, video, **fields):
    """The page's FormData: the file under `video` (its file name kept), strings for the rest."""
    with open(video, "rb") as fh:
        return client.post(f"{BASE}{path}", {"video": fh, **fields})


def _number(value) -> bool:
    """A JSON number (the page calls number methods on it), never a string or a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def undecodable_video(media, tmp_path):
    """A video whose container and stream headers are sound (the upload check passes) but whose
    frames are all zero bytes: the analysis cannot decode a single frame."""
    data = bytearray(media.video(seconds=2, audio=False).read_bytes())
    at = data.find(b"mdat")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    out = tmp_path / "zeroed.mp4"
    out.write_bytes(bytes(data))
    return out


def test_video_info_answers_the_old_shape_for_landscape_and_phone_videos(
    api, media, worker_process
):
    worker_process()
    landscape = _post(api, "/video-info", media.video(seconds=2, size="320x240", fps=25))
    assert landscape.status_code == 200, landscape.content
    info = landscape.json()
    for field in ("width", "height", "duration", "fps"):
        assert _number(info[field]), field
    assert (info["width"], info["height"], info["fps"]) == (320, 240, 25)
    assert info["duration"] == pytest.approx(2, abs=0.1)
    assert info["aspect_ratio"] == "landscape" and info["is_vertical"] is False
    assert Job.objects.get(id=info["job_id"]).job_type == "probe"
    assert landscape["Deprecation"] == "true"
    assert "/api/v1/library/videos/info" in landscape["Link"]

    # a phone video: stored 320x240 with a 90° display rotation, shown 240x320
    phone = _post(api, "/video-info", media.rotated(rotation=90)).json()
    assert (phone["width"], phone["height"]) == (240, 320)
    assert phone["aspect_ratio"] == "portrait" and phone["is_vertical"] is True
    assert Job.objects.filter(status=JobStatus.COMPLETED).count() == 2


def test_analyze_answers_the_video_and_its_segments(api, media, worker_process):
    worker_process()
    response = _post(api, "/analyze", media.video(seconds=6), target_duration="3")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["video_info"]["filename"] == "video-6-320x240-25-1.mp4"
    assert _number(body["video_info"]["duration"])
    assert body["video_info"]["duration"] == pytest.approx(6, abs=0.1)
    segments = body["segments"]
    assert segments and all(_number(s["duration"]) and s["duration"] > 0 for s in segments)
    total = sum(s["duration"] for s in segments)
    assert total == pytest.approx(body["total_selected_duration"], abs=0.01)
    assert 2 <= total <= 6  # about the 3 s asked for, never more than the source
    for s in segments:
        assert s["end"] - s["start"] == pytest.approx(s["duration"], abs=0.002)
        assert 0 <= s["combined_score"] <= 1
    job = Job.objects.get(id=body["job_id"])
    assert job.job_type == "analyze" and job.params["target_duration"] == 3
    assert job.result["provider"] == "local"


def test_analyze_of_an_undecodable_video_is_422_with_the_jobs_error(
    api, media, worker_process, tmp_path
):
    worker_process()
    response = _post(api, "/analyze", undecodable_video(media, tmp_path), target_duration="5")
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert detail.startswith("'video' could not be read: ") and "decode" in detail
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and job.error in detail
    assert response.json()["error"]["details"][0]["job_id"] == str(job.id)


@pytest.mark.parametrize(
    ("path", "fields", "job_type"),
    [("/video-info", {}, "probe"), ("/analyze", {"target_duration": "20"}, "analyze")],
)
def test_past_the_wait_the_answer_is_504_naming_the_job(
    api, media, settings, path, fields, job_type
):
    settings.FRONTEND_SYNC_WAIT = 0.5  # no worker runs: the job cannot end in time
    response = _post(api, path, media.video(seconds=1), **fields)
    assert response.status_code == 504, response.content
    job = Job.objects.get()
    assert job.job_type == job_type and job.status == JobStatus.QUEUED
    body = response.json()
    assert str(job.id) in body["detail"] and f"/jobs/{job.id}" in body["detail"]
    assert body["error"]["details"][0]["job_id"] == str(job.id)


@pytest.mark.parametrize("path", ["/video-info", "/analyze"])
def test_bad_media_is_refused_before_any_job_with_a_readable_detail(api, media, path):
    fields = {"target_duration": "20"} if path == "/analyze" else {}
    not_media = _post(api, path, media.text_file(), **fields)
    assert not_media.status_code == 415
    assert not_media.json()["detail"].startswith("'video': ")

    sound = _post(api, path, media.audio(seconds=1), **fields)
    assert sound.status_code == 422
    assert sound.json()["detail"] == "'video' has no video stream"

    empty = _post(api, path, media.empty_file(), **fields)
    assert empty.status_code == 422 and "'video' is empty" in empty.json()["detail"]
    assert not Job.objects.exists()


def test_analyze_target_duration_must_be_a_whole_positive_number(api, media):
    video = media.video(seconds=1)
    for sent, words in [("NaN", "valid integer"), ("2.5", "valid integer"), ("0", "greater")]:
        response = _post(api, "/analyze", video, target_duration=sent)
        assert response.status_code == 422, sent
        detail = response.json()["detail"]
        assert detail.startswith("'target_duration': ") and words in detail, detail
    missing = _post(api, "/analyze", video)
    assert missing.status_code == 422 and "'target_duration'" in missing.json()["detail"]
    assert not Job.objects.exists()


def test_a_misnamed_or_unknown_field_is_refused_not_ignored(api, media):
    with open(media.video(seconds=1), "rb") as fh:
        renamed = api.post(f"{BASE}/video-info", {"file": fh})
    assert renamed.status_code == 422
    assert renamed.json()["detail"] == "Unknown field 'file' (this endpoint takes: video)"
    extra = _post(api, "/analyze", media.video(seconds=1), target_duration="5", provider="gemini")
    assert extra.status_code == 422 and "provider" in extra.json()["detail"]
    assert not Job.objects.exists()


def test_without_a_token_nothing_starts(media):
    response = _post(Client(), "/video-info", media.video(seconds=1))
    assert response.status_code == 401 and isinstance(response.json()["detail"], str)
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "successor"),
    [
        ("post", "/video-info", "POST /api/v1/library/videos/info"),
        ("post", "/analyze", "POST /api/v1/library/videos/analyze"),
    ],
)
def test_the_routes_are_deprecated_with_their_v1_successor(api, method, path, successor):
    operation = api.get(f"{BASE}/openapi.json").json()["paths"][BASE + path][method]
    assert operation["deprecated"] is True
    assert f"Successor: `{successor}`" in operation["description"]
    successor_method, successor_path = successor.split(" ")
    v1 = api.get("/api/v1/openapi.json").json()["paths"]
    assert successor_method.lower() in v1[successor_path]
