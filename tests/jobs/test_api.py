"""The jobs API over HTTP (Django test client), with the real database, Redis and workers."""

import asyncio
import json

import pytest
from django.test import AsyncClient

from core.auth import api_token_create
from core.models import ApiToken
from jobs import services
from jobs.models import Job
from jobs.status import JobStatus
from tests.conftest import database_down, run_burst_worker

pytestmark = pytest.mark.django_db(transaction=True)


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error", "detail"} and {"code", "message", "details"} <= set(body["error"])
    assert body["detail"] == body["error"]["message"]  # the frontend shows `detail`
    return body["error"]


def test_no_credentials_is_401_with_the_error_shape(client):
    response = client.get("/api/v1/jobs")
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthenticated"


def test_bad_and_revoked_tokens_are_401(client, user):
    token, raw = api_token_create(user=user, name="t")
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION="Bearer ef_wrong").status_code == 401
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_tokens_are_stored_hashed(user):
    token, raw = api_token_create(user=user, name="t")
    assert raw not in (token.digest, token.prefix) and len(token.digest) == 64
    assert not ApiToken.objects.filter(digest=raw).exists()


def test_session_auth_works_for_logged_in_users(client, user):
    client.force_login(user)
    assert client.get("/api/v1/jobs").status_code == 200


def test_list_filters_pagination_and_ownership(api, user, other_user):
    for _ in range(3):
        Job.objects.create(job_type="noop", owner=user, status=JobStatus.COMPLETED)
    Job.objects.create(job_type="test_sleep", owner=user, status=JobStatus.FAILED)
    Job.objects.create(job_type="noop", owner=other_user)
    page = api.get("/api/v1/jobs", {"limit": 2}).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    created = [item["created_at"] for item in page["items"]]
    assert created == sorted(created, reverse=True)
    assert api.get("/api/v1/jobs", {"status": "failed"}).json()["total"] == 1
    assert api.get("/api/v1/jobs", {"job_type": "noop"}).json()["total"] == 3
    assert api.get("/api/v1/jobs", {"status": "bogus"}).status_code == 422


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("post", "/cancel"),
        ("post", "/retry"),
        ("delete", ""),
        ("get", "/files/1"),
        ("get", "/events"),
    ],
)
def test_another_users_job_is_404_everywhere(other_api, user, method, suffix):
    job = Job.objects.create(job_type="noop", owner=user, status=JobStatus.FAILED)
    response = getattr(other_api, method)(f"/api/v1/jobs/{job.id}{suffix}")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED


def test_probe_upload_end_to_end_with_download_and_range(api, media):
    with media.rotated(rotation=90).open("rb") as fh:
        response = api.post("/api/v1/library/videos/info", {"file": fh})
    assert response.status_code == 202, response.content
    created = response.json()
    assert created["status"] == "queued"
    run_burst_worker()
    job = api.get(created["status_url"]).json()
    assert job["status"] == "completed" and job["progress"] == 100
    info = job["result"]
    assert (info["width"], info["height"], info["rotation"], info["aspect"]) == (
        240,
        320,
        270,
        "portrait",
    )
    assert info["has_audio"] and info["video_codec"] == "h264" and abs(info["duration"] - 2) < 0.1
    source = job["files"][0]
    whole = b"".join(api.get(source["download_url"]).streaming_content)
    assert whole == media.rotated(rotation=90).read_bytes()
    part = api.get(source["download_url"], HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 10-19/{len(whole)}"
    assert b"".join(part.streaming_content) == whole[10:20]
    assert api.get(source["download_url"], HTTP_RANGE=f"bytes={len(whole) + 5}-").status_code == 416


@pytest.mark.parametrize(
    ("maker", "status", "needle"),
    [("text_file", 415, "not a"), ("empty_file", 422, "empty")],
)
def test_bad_uploads_are_4xx_and_create_no_job(api, media, maker, status, needle):
    with getattr(media, maker)().open("rb") as fh:
        response = api.post("/api/v1/library/videos/info", {"file": fh})
    assert response.status_code == status
    assert needle in _error(response)["message"]
    assert Job.objects.count() == 0


def test_missing_upload_is_422_with_field_path(api):
    response = api.post("/api/v1/library/videos/info", {})
    assert response.status_code == 422
    assert any("file" in d["field"] for d in _error(response)["details"])


def test_upload_over_the_size_cap_is_413(api, media, settings):
    settings.UPLOAD_MAX_BYTES = 100
    with media.video().open("rb") as fh:
        response = api.post("/api/v1/library/videos/info", {"file": fh})
    assert response.status_code == 413 and Job.objects.count() == 0


def test_cancel_retry_and_delete_through_the_api(api, user):
    job = services.job_create(
        job_type="test_sleep", params={"seconds": 1, "write_file": True}, owner=user
    )
    assert api.post(f"/api/v1/jobs/{job.id}/cancel").json()["status"] == "cancelled"
    conflict = api.post(f"/api/v1/jobs/{job.id}/cancel")
    assert conflict.status_code == 409 and _error(conflict)["code"] == "conflict"
    retried = api.post(f"/api/v1/jobs/{job.id}/retry").json()
    assert retried["status"] == "queued" and retried["attempts"] == 0
    run_burst_worker()
    done = api.get(f"/api/v1/jobs/{job.id}").json()
    assert done["status"] == "completed" and [f["label"] for f in done["files"]] == ["partial"]
    deleted = api.delete(f"/api/v1/jobs/{job.id}").json()
    assert deleted == {"deleted": True, "files_deleted": 1}
    assert api.get(f"/api/v1/jobs/{job.id}").status_code == 404


def test_sse_stream_ends_with_the_terminal_status(user):
    job = services.job_create(
        job_type="test_sleep", params={"seconds": 0.1, "steps": 1}, owner=user
    )
    run_burst_worker()
    raw = api_token_create(user=user, name="sse")[1]

    async def read_stream() -> str:
        response = await AsyncClient().get(
            f"/api/v1/jobs/{job.id}/events", headers={"Authorization": f"Bearer {raw}"}
        )
        assert response["Content-Type"] == "text/event-stream"
        return "".join([chunk.decode() async for chunk in response.streaming_content])

    text = asyncio.run(read_stream())
    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    assert events[-1].startswith("event: end")
    assert json.loads(events[-1].split("data: ", 1)[1])["status"] == "completed"


def test_database_unavailable_is_503_json(api):
    with database_down():
        response = api.get("/api/v1/jobs")
    assert response.status_code == 503
    assert _error(response)["code"] == "database_unavailable"
    assert response["Retry-After"]
