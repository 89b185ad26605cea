"""The ASGI fast path of GET /api/v1/jobs/{id}: same answer as Django, and Django for the rest."""

import asyncio

import httpx
import pytest

from core.auth import api_token_create
from core.models import ApiToken
from editfactory.asgi import application
from jobs import services
from jobs.models import JobFile
from jobs.polling import job_detail

pytestmark = pytest.mark.django_db(transaction=True)


def _get(app, path, **headers):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


@pytest.fixture
def polled(user, tmp_path):
    job = services.job_create(job_type="noop", owner=user)
    source = tmp_path / "out.txt"
    source.write_text("hello")
    services.job_file_store(job_id=job.id, local_path=source, role=JobFile.Role.OUTPUT, label="out")
    services.cost_record(
        job_id=job.id,
        owner_id=user.id,
        service="elevenlabs",
        operation="tts",
        units=12,
        unit_name="characters",
    )
    raw = api_token_create(user=user, name="poll")[1]
    return job, {"Authorization": f"Bearer {raw}"}


def test_fast_path_answers_exactly_as_django_does(polled, monkeypatch):
    job, auth = polled
    path = f"/api/v1/jobs/{job.id}"
    calls = []
    monkeypatch.setattr(application, "app", _spy(application.app, calls))
    fast = _get(application, path, **auth)
    assert calls == []  # answered without Django
    slow = _get(application.app, path, **auth)
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content
    assert fast.json()["files"][0]["label"] == "out"
    assert fast.json()["costs"][0]["service"] == "elevenlabs"
    assert _comparable(fast.headers) == _comparable(slow.headers)


def _spy(app, calls):
    async def spy(scope, receive, send):
        calls.append(scope["path"])
        await app(scope, receive, send)

    return spy


def _comparable(headers):
    return {k: v for k, v in headers.items() if k not in {"content-length", "vary"}}


def test_fast_path_sees_progress_at_once(polled):
    job, auth = polled
    services.job_claim(job_id=job.id)
    services.job_set_progress(
        job_id=job.id, percent=42, stage="render", label="Rendering", eta_seconds=3
    )
    body = _get(application, f"/api/v1/jobs/{job.id}", **auth).json()
    assert (body["status"], body["progress"], body["stage_label"]) == (
        "processing",
        42,
        "Rendering",
    )


@pytest.mark.parametrize(
    "case, status",
    [
        ("no token", 401),
        ("unknown token", 401),
        ("revoked token", 401),
        ("other user's job", 404),
        ("unknown job", 404),
        ("host not allowed", 400),
        ("unknown query parameter", 422),  # no silent drops (core.strict)
    ],
)
def test_everything_else_is_answered_by_django(polled, other_user, case, status):
    job, auth = polled
    path, headers = f"/api/v1/jobs/{job.id}", dict(auth)
    if case == "no token":
        headers = {}
    elif case == "unknown token":
        headers["Authorization"] = "Bearer ef_not-a-token"
    elif case == "revoked token":
        ApiToken.objects.update(revoked=True)
    elif case == "other user's job":
        headers["Authorization"] = f"Bearer {api_token_create(user=other_user, name='o')[1]}"
    elif case == "unknown job":
        path = "/api/v1/jobs/00000000-0000-0000-0000-000000000000"
    elif case == "host not allowed":
        headers["Host"] = "evil.example"
    elif case == "unknown query parameter":
        path += "?fields=status"
    response = _get(application, path, **headers)
    assert response.status_code == status
    assert status == 400 or "error" in response.json()


def test_cross_origin_requests_go_through_django(polled, monkeypatch):
    job, auth = polled
    calls = []
    monkeypatch.setattr(application, "app", _spy(application.app, calls))
    response = _get(application, f"/api/v1/jobs/{job.id}", Origin="http://app.example", **auth)
    assert response.status_code == 200 and calls == [f"/api/v1/jobs/{job.id}"]


def test_job_detail_matches_the_orm(polled, other_user):
    job, _auth = polled
    detail = job_detail(owner_id=job.owner_id, job_id=job.id)
    job.refresh_from_db()
    assert detail.id == job.id and detail.updated_at == job.updated_at
    assert detail.params == job.params and detail.status == job.status
    assert [f.id for f in detail.files] == [f.id for f in job.files.all()]
    assert detail.costs[0].units == job.costs.get().units
    assert job_detail(owner_id=other_user.id, job_id=job.id) is None
