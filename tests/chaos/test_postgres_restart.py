"""PostgreSQL dies (immediate shutdown: every connection cut) and comes back while jobs run and
the API is under load. The product runs as in production: uvicorn, two RQ workers and the
maintenance loop against a private PostgreSQL cluster and a private Redis.

During the outage the API answers 503 with the JSON error body (never a 500, never HTML); it
recovers by itself; every accepted job completes, none is lost, failed or run twice.
"""

import json
import logging
import random
import threading
import time
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests.chaos.servers import (
    PrivatePostgres,
    PrivateRedis,
    WebServer,
    base_env,
    executions,
    postgres_unavailable_reason,
    run_manage,
    start_maintenance,
    start_worker,
    stop_all,
)
from tests.conftest import wait_for

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        postgres_unavailable_reason() is not None, reason=str(postgres_unavailable_reason())
    ),
]

JOBS = 50
FINISHED = {"completed", "failed", "cancelled"}
OUTAGE_SECONDS = 4.0
DB_NAME = "editfactory_chaos"
CREATE_USER = """
from django.contrib.auth import get_user_model
from core.auth import api_token_create
user = get_user_model().objects.create_user("chaos")
print(api_token_create(user=user, name="chaos")[1])
"""


@dataclass
class Answer:
    started: float
    ended: float
    request: str
    status: int
    json_body: dict | list | None  # None: the body was not JSON
    retry_after: str | None  # the Retry-After header (the exception when there was no answer)


class ApiLoad:
    """Client threads polling job details and job lists, and one creating a job every second,
    recording every answer until stopped."""

    def __init__(self, base_url: str, token: str, job_ids: list[str], job_params: dict):
        self.base_url, self.job_ids, self.job_params = base_url, job_ids, job_params
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answers: list[Answer] = []
        self.accepted: list[str] = []  # job ids of creations answered 202
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._poll, daemon=True) for _ in range(3)]
        self._threads.append(threading.Thread(target=self._create, daemon=True))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=20) as client:
            while not self._stop.is_set():
                self._call(client, "GET", f"/api/v1/jobs/{random.choice(self.job_ids)}")
                self._call(client, "GET", "/api/v1/jobs?limit=20")

    def _create(self) -> None:
        body = {"job_type": "test_record", "params": self.job_params}
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=20) as client:
            while not self._stop.wait(1.0):
                answer = self._call(client, "POST", "/api/chaos/jobs", json=body)
                if answer.status == 202:
                    with self._lock:
                        self.accepted.append(answer.json_body["job_id"])

    def _call(self, client: httpx.Client, method: str, path: str, **kwargs) -> Answer:
        started = time.monotonic()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:  # no answer at all: recorded as status 0
            answer = Answer(started, time.monotonic(), f"{method} {path}", 0, None, repr(exc))
        else:
            answer = Answer(
                started, time.monotonic(), f"{method} {path}", response.status_code,
                _json_or_none(response), response.headers.get("retry-after"),
            )  # fmt: skip
        with self._lock:
            self.answers.append(answer)
        return answer


def _json_or_none(response: httpx.Response):
    try:
        return response.json()
    except json.JSONDecodeError:
        return None


def _create_job(client: httpx.Client, params: dict) -> str:
    response = client.post("/api/chaos/jobs", json={"job_type": "test_record", "params": params})
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _jobs_in_database(pg: PrivatePostgres) -> dict[str, tuple[str, int]]:
    with psycopg.connect(pg.url(DB_NAME)) as conn:
        rows = conn.execute("SELECT id, status, attempts FROM jobs_job").fetchall()
    return {str(job_id): (status, attempts) for job_id, status, attempts in rows}


def _all_finished(pg: PrivatePostgres) -> bool:
    return {status for status, _ in _jobs_in_database(pg).values()} <= FINISHED


def _both_workers_mid_job(pg: PrivatePostgres) -> bool:
    """Some jobs done, and two running past their first progress write: the outage must hit
    jobs in the middle of their work, not workers between jobs."""
    with psycopg.connect(pg.url(DB_NAME)) as conn:
        done, running = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'completed'),"
            " count(*) FILTER (WHERE status = 'processing' AND progress > 0) FROM jobs_job"
        ).fetchone()
    return done >= 4 and running == 2


def _describe(answers: list[Answer]) -> list[str]:
    return [
        f"{a.request} -> {a.status} {str(a.json_body)[:200]} {a.retry_after}" for a in answers[:10]
    ]


@pytest.fixture
def servers():
    pg, redis = PrivatePostgres(), PrivateRedis()
    try:
        pg.init()
        pg.start()
        pg.create_database(DB_NAME)
        redis.start()
        yield pg, redis
    finally:
        redis.remove()
        pg.remove()


def test_api_answers_503_json_through_a_postgres_restart_and_every_job_runs_once(
    servers, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="httpx")  # no log line per request
    pg, redis = servers
    record_dir = tmp_path / "executions"
    record_dir.mkdir()
    env = base_env(
        DATABASE_URL=pg.url(DB_NAME),
        REDIS_URL=redis.url,
        EF_DATA_DIR=str(tmp_path / "data"),
        EF_RATE_LIMIT_JOBS="1000/minute",
    )
    run_manage("migrate", "--noinput", env=env)
    token = run_manage("shell", "-c", CREATE_USER, env=env).split()[-1]
    params = {"record_dir": str(record_dir), "seconds": 0.5, "steps": 4}

    web = WebServer(env=env, log_dir=tmp_path)
    processes = [web, *(start_worker(env=env, log_dir=tmp_path) for _ in range(2))]
    processes.append(start_maintenance(env=env, log_dir=tmp_path, interval=0.2))
    try:
        web.wait_ready()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=web.base_url, headers=headers, timeout=20) as client:
            job_ids = [_create_job(client, params) for _ in range(JOBS)]
        with ApiLoad(web.base_url, token, job_ids, params) as load:
            wait_for(
                lambda: _both_workers_mid_job(pg), timeout=60, interval=0.02, message="jobs mid-run"
            )
            pg.stop(mode="immediate")
            outage_start = time.monotonic()
            time.sleep(OUTAGE_SECONDS)
            outage_end = time.monotonic()
            pg.start()
            time.sleep(3)  # the load goes on while everything reconnects
            recovered = time.monotonic()
            time.sleep(1)
        accepted = [*job_ids, *load.accepted]
        wait_for(lambda: _all_finished(pg), timeout=120, interval=0.5, message="every job to end")
        dead = [p.output() for p in processes if not p.alive()]
        assert dead == [], "a product process died with the database"
    finally:
        stop_all(processes)

    answers = load.answers
    unanswered_or_500 = [
        a for a in answers if a.status == 0 or (a.status >= 500 and a.status != 503)
    ]
    assert unanswered_or_500 == [], _describe(unanswered_or_500)
    not_json = [a for a in answers if a.json_body is None]
    assert not_json == [], _describe(not_json)
    during = [a for a in answers if a.started > outage_start and a.ended < outage_end]
    assert len(during) >= 10, "the load ran during the outage"
    wrong = [a for a in during if a.status != 503]
    assert wrong == [], _describe(wrong)
    codes = {(a.json_body["error"]["code"], a.retry_after) for a in during}
    assert codes == {("database_unavailable", "5")}
    after = [a for a in answers if a.started > recovered]
    assert after and {a.status for a in after} <= {200, 202}, _describe(after)

    jobs = _jobs_in_database(pg)
    assert set(accepted) <= set(jobs), "an accepted job was lost"
    assert set(jobs.values()) == {("completed", 1)}
    assert executions(record_dir) == dict.fromkeys(jobs, 1), "a job ran twice or never"
    assert "Traceback" not in web.output(), web.output()
