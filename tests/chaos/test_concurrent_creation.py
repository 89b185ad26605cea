"""500 job creations at once over real HTTP (a uvicorn server with two processes, 40 client
threads) while two workers already run them: every creation is answered 202, exactly 500 rows
exist, and each job runs exactly once. On SQLite this is the "database is locked" test."""

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.auth import api_token_create
from jobs.models import Job
from jobs.queue import get_connection
from jobs.status import JobStatus
from tests.chaos.servers import (
    WebServer,
    base_env,
    executions,
    private_redis_for,
    start_worker,
    stop_all,
)
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

CREATIONS = 500
CLIENT_THREADS = 40


def _create_all(base_url: str, token: str, params: dict) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CLIENT_THREADS, max_keepalive_connections=CLIENT_THREADS)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=60) as client:

        def create(_n: int) -> httpx.Response:
            return client.post(
                "/api/chaos/jobs", json={"job_type": "test_record", "params": params}
            )

        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            return list(pool.map(create, range(CREATIONS)))


@pytest.fixture
def private_redis(settings):
    with private_redis_for(settings) as server:
        yield server


def test_500_concurrent_creations_all_answered_and_each_job_runs_once(
    user, tmp_path, caplog, private_redis
):
    caplog.set_level(logging.WARNING, logger="httpx")  # no log line per request
    record_dir = tmp_path / "executions"
    record_dir.mkdir()
    token = api_token_create(user=user, name="chaos")[1]
    # The per-user rate limit stays on (its Lua script runs under the same concurrency), but high.
    env = base_env(
        EF_USE_TEST_DB="1", REDIS_URL=private_redis.url, EF_RATE_LIMIT_JOBS="1000/minute"
    )
    web = WebServer(env=env, log_dir=tmp_path, workers=2)
    workers = [start_worker(env=env, log_dir=tmp_path) for _ in range(2)]
    try:
        web.wait_ready()
        responses = _create_all(web.base_url, token, {"record_dir": str(record_dir)})
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {202: CREATIONS}, [
            (r.status_code, r.text[:300]) for r in responses if r.status_code != 202
        ][:10]
        created = {r.json()["job_id"] for r in responses}
        assert len(created) == CREATIONS

        done = Job.objects.filter(owner=user, status=JobStatus.COMPLETED)
        wait_for(
            lambda: done.count() == CREATIONS, timeout=150, interval=0.5, message="all 500 jobs"
        )
        assert web.alive() and all(w.alive() for w in workers)
    finally:
        stop_all([web, *workers])

    assert set(map(str, Job.objects.values_list("id", flat=True))) == created  # no extra rows
    assert executions(record_dir) == dict.fromkeys(created, 1), "a job ran twice or never"
    assert set(Job.objects.values_list("status", "attempts")) == {(JobStatus.COMPLETED, 1)}
    # Each creation went through the rate limiter (one slot taken per job, none lost).
    assert get_connection().zcard(f"ef:ratelimit:jobs:{user.pk}") == CREATIONS
    assert "Traceback" not in web.output(), web.output()
