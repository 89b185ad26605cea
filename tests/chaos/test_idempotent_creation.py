"""The same Idempotency-Key sent by many clients at once, over real HTTP (a uvicorn server with
two processes): one job row, one 202, every other answer a 200 with the same job; the same key
with other params, sent at the same time, is a 409 for each. Run it on PostgreSQL (DATABASE_URL)
for the concurrency that matters; on SQLite the writers queue up and the rule is the same."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.auth import api_token_create
from jobs.models import Job, JobEvent
from tests.chaos.servers import WebServer, base_env, private_redis_for, stop_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SAME = 24  # clients sending the same request with the same key
OTHER = 8  # clients sending other params with that key


@pytest.fixture
def private_redis(settings):
    with private_redis_for(settings) as server:
        yield server


def test_one_key_sent_at_once_by_many_clients_makes_one_job(user, private_redis, tmp_path):
    token = api_token_create(user=user, name="idem")[1]
    env = base_env(
        EF_USE_TEST_DB="1", REDIS_URL=private_redis.url, EF_RATE_LIMIT_JOBS="1000/minute"
    )
    web = WebServer(env=env, log_dir=tmp_path, workers=2)
    try:
        web.wait_ready()
        start = threading.Barrier(SAME + OTHER)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "burst-1"}
        with httpx.Client(base_url=web.base_url, headers=headers, timeout=60) as client:

            def post(n: int) -> httpx.Response:
                params = {"seconds": 0.1} if n < SAME else {"seconds": 0.2}
                start.wait()  # every request leaves at the same moment
                return client.post(
                    "/api/chaos/jobs", json={"job_type": "test_sleep", "params": params}
                )

            with ThreadPoolExecutor(SAME + OTHER) as pool:
                responses = list(pool.map(post, range(SAME + OTHER)))
    finally:
        stop_all([web])

    same, other = responses[:SAME], responses[SAME:]
    (job,) = Job.objects.filter(owner=user)
    statuses = Counter(r.status_code for r in same)
    other_statuses = Counter(r.status_code for r in other)
    if job.params == {"seconds": 0.2, "steps": 10, "write_file": False}:
        # One of the "other" requests won the race: then it is the same request for its kind.
        statuses, other_statuses = other_statuses, statuses
        same, other = other, same
    assert statuses == {202: 1, 200: len(same) - 1}, [(r.status_code, r.text) for r in same]
    assert {r.json()["job_id"] for r in same} == {str(job.id)}
    assert other_statuses == {409: len(other)}, [(r.status_code, r.text) for r in other]
    assert all(r.json()["error"]["code"] == "idempotency_conflict" for r in other)
    assert JobEvent.objects.filter(job=job).count() == 1  # one creation, one queued event
    assert "Traceback" not in web.output(), web.output()
