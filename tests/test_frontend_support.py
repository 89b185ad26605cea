"""What a frontend relies on besides the endpoints: health, CORS and the legacy aliases."""

import contextlib
import os
import re
import signal
import time

import pytest
from django.urls import Resolver404, resolve

from core.leases import MAINTENANCE_LEASE, lease_acquire, lease_release
from editfactory.legacy import ALIASES, API
from jobs import forkserver, services
from jobs.errors import IllegalTransition
from jobs.models import Job
from jobs.status import JobStatus
from tests.chaos.servers import base_env, private_redis_for, start_worker, stop_all
from tests.conftest import database_down, descendants, kill_tree, wait_for
from tests.processes import comm

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
    assert body["status"] == "ok" and body["workers"] == 1 and body["worker_hosts"] == 1


def test_health_says_its_role_and_whether_a_maintenance_loop_holds_the_lease(client, settings):
    body = client.get("/api/v1/health").json()
    assert body["role"] == "web" and body["worker_hosts"] == 0  # a web process, no worker
    assert body["maintenance"] == {"ok": False, "detail": "no maintenance loop holds the lease"}
    holder = "host-a pid 12 worker #a1b2c3"
    lease_acquire(name=MAINTENANCE_LEASE, holder=holder, ttl=60)
    settings.ROLE = "all"  # `up --role all` started this process
    body = client.get("/api/v1/health").json()
    assert body["role"] == "all"
    assert body["maintenance"]["ok"]
    assert re.fullmatch(r"a loop holds the lease \((59|60) s left\)", body["maintenance"]["detail"])
    assert "host-a" not in str(body)  # who holds it: on the admin dashboard, not here
    lease_release(name=MAINTENANCE_LEASE, holder=holder)
    assert not client.get("/api/v1/health").json()["maintenance"]["ok"]


def _live(client):
    body = client.get("/api/v1/health").json()
    return body if body["workers"] else None


BEAT = 1  # EF_WORKER_HEARTBEAT_INTERVAL of the workers below, in seconds


@pytest.mark.timeout(150)
def test_health_counts_live_workers_within_one_heartbeat_after_redis_is_flushed(
    client, settings, tmp_path
):
    """Workers keep working through a FLUSHALL; /health must count them again at their next
    beat, the idle one and the busy one, and must stop counting one that was killed."""
    settings.WORKER_HEARTBEAT_INTERVAL = BEAT
    with private_redis_for(settings) as server:
        env = base_env(
            EF_USE_TEST_DB="1", REDIS_URL=server.url, EF_WORKER_HEARTBEAT_INTERVAL=str(BEAT)
        )
        workers = [start_worker(env=env, log_dir=tmp_path) for _ in range(2)]
        job = None
        try:
            wait_for(lambda: _workers(client, 2), timeout=60, message="two live workers")
            job = services.job_create(job_type="test_sleep", params={"seconds": 60, "steps": 60})
            wait_for(
                lambda: Job.objects.filter(id=job.id, status=JobStatus.PROCESSING).exists(),
                timeout=30,
                message="one worker busy",
            )
            server.client().flushall()
            flushed = time.monotonic()
            body = wait_for(
                lambda: _workers(client, 2), timeout=30, interval=0.05, message="both workers again"
            )
            seen_after = time.monotonic() - flushed
            print(f"health: both workers counted again {seen_after:.2f} s after FLUSHALL")
            assert body["status"] == "ok"
            assert seen_after < BEAT + 1.0, f"took {seen_after:.1f} s, one beat is {BEAT} s"

            idle = next(w for w in workers if not _horses(w.process.pid))
            kill_tree(idle.process)
            killed = time.monotonic()
            wait_for(lambda: _workers(client, 1), timeout=30, interval=0.05, message="one worker")
            dropped_after = time.monotonic() - killed
            print(f"health: the killed worker left the count after {dropped_after:.2f} s")
            assert dropped_after < 3 * BEAT + 1.0  # a dead worker counts for three beats at most
        finally:
            if job is not None:
                with contextlib.suppress(IllegalTransition):  # stop its horse now
                    services.job_cancel(job=Job.objects.get(id=job.id))
            stop_all(workers)


def _horses(worker_pid: int) -> list[int]:
    """The worker's processes below its fork server (jobs.forkserver), which every worker has,
    but for the spare horse that waits for the next request."""
    idle = ("", forkserver.NAME, forkserver.SPARE_NAME)
    return [pid for pid in descendants(worker_pid) if comm(pid) not in idle]


def _workers(client, count):
    body = client.get("/api/v1/health").json()
    return body if body["workers"] == count else None


@pytest.mark.timeout(60)
def test_health_answers_within_seconds_while_redis_is_down(client, settings):
    """No worker-count or queue-depth wait on a Redis that is gone: a prompt 503 saying so."""
    with private_redis_for(settings) as server:
        server.stop()
        started = time.monotonic()
        response = client.get("/api/v1/health")
        took = time.monotonic() - started
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert not body["redis"]["ok"] and body["redis"]["detail"].startswith("unreachable")
    print(f"health: 503 after {took:.2f} s with Redis down")
    assert took < 3.5


@pytest.mark.timeout(60)
def test_health_answers_within_seconds_while_redis_hangs(client, settings):
    """A Redis that accepts connections but never answers (stopped here with SIGSTOP, or behind
    a partition) must not hang the health check (nor the thread serving it): a 503 in seconds."""
    with private_redis_for(settings) as server:
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            response = client.get("/api/v1/health")
            took = time.monotonic() - started
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["redis"] == {"ok": False, "detail": "unreachable (TimeoutError)"}
    print(f"health: 503 after {took:.2f} s with Redis hanging")
    assert took < 3.5


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
