"""What a frontend relies on besides the endpoints: health, CORS and the legacy aliases."""

import pytest
from django.urls import Resolver404, resolve

from editfactory.legacy import ALIASES, API
from tests.conftest import database_down, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_health_reports_each_part_without_auth_or_secrets(client, settings):
    body = client.get("/api/v1/health").json()
    assert body["database"]["ok"] and body["redis"]["ok"] and body["ffmpeg"]["ok"]
    assert body["status"] == "degraded" and body["workers"] == 0  # no worker running
    assert body["queue_depth"] == 0
    text = str(body)
    assert settings.SECRET_KEY not in text and "/" not in body["ffmpeg"]["detail"]


def test_health_counts_a_live_worker(client, worker_process):
    worker_process()
    body = wait_for(lambda: _live(client), timeout=30, message="a live worker in /health")
    assert body["status"] == "ok" and body["workers"] == 1


def _live(client):
    body = client.get("/api/v1/health").json()
    return body if body["workers"] else None


def test_health_is_503_json_while_the_database_is_down(client):
    with database_down():
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and not body["database"]["ok"]
    assert "nonexistent" not in str(body) and "PORT" not in str(body)


def test_cors_allows_only_listed_origins_with_credentials(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://app.example"]
    ok = api.get("/api/v1/jobs", HTTP_ORIGIN="http://app.example")
    assert ok["Access-Control-Allow-Origin"] == "http://app.example"
    assert ok["Access-Control-Allow-Credentials"] == "true"
    other = api.get("/api/v1/jobs", HTTP_ORIGIN="http://evil.example")
    assert "Access-Control-Allow-Origin" not in other
    preflight = api.options(
        "/api/v1/jobs",
        HTTP_ORIGIN="http://app.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("method, legacy", sorted(ALIASES))
def test_every_legacy_alias_has_a_live_successor(method, legacy):
    successor = API + ALIASES[(method, legacy)]
    try:
        match = resolve(successor)
    except Resolver404:
        pytest.fail(f"{method} {legacy}: successor {successor} is not routed")
    assert match.func is not None


def test_legacy_alias_answers_like_its_successor_with_deprecation_headers(api, media):
    video = media.video(seconds=1)
    with video.open("rb") as fh:
        legacy = api.post("/api/v1/video-info", {"file": fh})
    with video.open("rb") as fh:
        new = api.post("/api/v1/library/videos/info", {"file": fh})
    assert legacy.status_code == new.status_code == 202
    assert set(legacy.json()) == set(new.json())
    assert legacy["Deprecation"] == "true"
    assert legacy["Link"] == '</api/v1/library/videos/info>; rel="successor-version"'
    assert "Deprecation" not in new
    # Only the listed method is an alias: GET /jobs stays the jobs list.
    listing = api.get("/api/v1/jobs")
    assert listing.status_code == 200 and "Deprecation" not in listing
