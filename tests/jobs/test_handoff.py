"""The worker claims and records; its work horse runs the handler alone (jobs.handoff): what the
horse reports is recorded by the worker, a crashing handler takes only its horse down, an outcome
file left behind is never taken for a horse's, and a token with nothing to claim forks nothing.
Real forking workers (in this process), real Redis, the real database."""

import os
import socket
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rq.job import Job as RQJob

from jobs import handoff, queue, runner, services
from jobs.models import Job, JobEvent, QueueState
from jobs.outcome import Outcome
from jobs.status import JobStatus
from tests.conftest import run_burst_worker

pytestmark = pytest.mark.django_db(transaction=True)

THIS_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _outcome_path():
    return settings.JOB_TEMP_DIR / "outcomes" / f"{socket.gethostname()}-{os.getpid()}.json"


def test_the_worker_claims_and_records_what_its_horse_reports():
    job = services.job_create(job_type="noop")
    run_burst_worker()
    job.refresh_from_db()
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, {"ok": True}, 1)
    events = list(JobEvent.objects.filter(job=job).order_by("at", "id"))
    assert [(e.kind, e.worker) for e in events] == [
        ("queued", ""),
        ("started", THIS_WORKER),
        ("completed", THIS_WORKER),
    ]
    assert not _outcome_path().exists(), "the outcome file is removed once recorded"


def test_a_crashing_handler_takes_only_its_horse_down(settings):
    crashing = services.job_create(job_type="test_crash")
    after = services.job_create(job_type="noop")
    run_burst_worker()  # the same worker takes the next token after its horse died
    crashing.refresh_from_db()
    assert Job.objects.get(id=after.id).status == JobStatus.COMPLETED
    assert (crashing.status, crashing.attempts, crashing.worker) == (
        JobStatus.PROCESSING,
        1,
        THIS_WORKER,
    ), "no outcome: left to the heartbeat rescue, as a job whose worker died"
    later = timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1)
    assert services.jobs_rescue_stale(now=later) == {"requeued": 1, "failed": 0}


def test_an_outcome_file_left_behind_is_never_taken_for_a_horses():
    path = _outcome_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(Outcome.completed({"stale": True}).dumps())  # a killed worker's leftover
    crashing = services.job_create(job_type="test_crash")
    run_burst_worker()
    crashing.refresh_from_db()
    assert crashing.status == JobStatus.PROCESSING and crashing.result is None


def test_a_token_with_nothing_to_claim_forks_no_horse(monkeypatch):
    from jobs.forkserver import ForkServer

    forks = []
    fork = ForkServer.fork
    monkeypatch.setattr(ForkServer, "fork", lambda self, *a: forks.append(a) or fork(self, *a))
    queue.wake("light")
    token_id = queue.get_queue("light").job_ids[0]
    run_burst_worker()
    assert forks == [], "no work horse for a token with nothing to claim"
    assert not queue.get_connection().exists(f"rq:job:{token_id}"), "the token is deleted"


def test_an_unserializable_result_fails_the_job_in_words(tmp_path):
    handed = handoff.Handoff(queue="light", job=None, outcome_path=tmp_path / "o.json")
    handoff.leave_outcome(handed, Outcome.completed({"when": timezone.now()}))
    outcome = handoff.collect_outcome(handed)
    assert outcome.kind == "failed" and not outcome.permanent
    assert "not JSON serializable" in outcome.message
    assert not (tmp_path / "o.json").exists()


def test_a_redis_outage_as_the_horse_ends_still_records_its_outcome(monkeypatch):
    """The worker writes its idle state (and deletes the token) once the horse ended; when
    Redis is unreachable then, the worker has recorded what its horse did already (else the job
    would be rescued and run a second time) and goes on."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from jobs.worker import EngineWorker

    recorded = []
    finish = runner.finish_handed
    monkeypatch.setattr(runner, "finish_handed", lambda h: recorded.append(h) or finish(h))
    recorded_first = []

    def lose_redis(self, pipe, what):
        if what == "idle state":
            recorded_first.append(bool(recorded))
            pipe.reset()
            exc = RedisConnectionError("Redis went away")
            return self._redis_unreachable(f"{what} not written", exc)
        return pipe.execute()

    monkeypatch.setattr(EngineWorker, "_write", lose_redis)
    job = services.job_create(job_type="noop")
    run_burst_worker()
    job.refresh_from_db()
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, {"ok": True}, 1)
    assert recorded_first == [True], "the token's end is written after the record"
    assert not _outcome_path().exists()


def _claim_and_finish(job_id) -> tuple[handoff.Handoff, list[str]]:
    """The worker's claim of the light queue (taking its token), the horse's outcome, then the
    worker's record; with the SQL of the record."""
    queue.get_queue("light").empty()
    handed = handoff.claim(
        RQJob.create(queue.RUNNER, args=("light",), connection=queue.get_connection())
    )
    assert handed.job.id == job_id
    handoff.leave_outcome(handed, Outcome.completed({}))
    with CaptureQueriesContext(connection) as recorded:
        assert runner.finish_handed(handed) == "completed"
    return handed, [q["sql"] for q in recorded.captured_queries]


def test_the_end_of_a_job_claimed_under_a_limit_wakes_its_queue(user):
    """A limit may have turned tokens away while the job ran: its end wakes the queue."""
    QueueState.objects.create(name="light", concurrency=1)
    first, second = (services.job_create(job_type="noop", owner=user) for _ in range(2))
    handed, _sql = _claim_and_finish(first.id)
    assert handed.queue_limited
    assert queue.waiting("light") == 1, "a token for the job the freed slot lets start"


def test_the_end_of_a_job_claimed_without_limits_reads_no_limits(user):
    """No limit at the claim: no token was turned away for one, the queue's row is not read."""
    first, _second = (services.job_create(job_type="noop", owner=user) for _ in range(2))
    handed, sql = _claim_and_finish(first.id)
    assert not handed.queue_limited
    assert not [s for s in sql if QueueState._meta.db_table in s]
    assert queue.waiting("light") == 0


def test_a_token_shows_its_worker_busy_and_is_deleted_once_recorded():
    """RQ's per-run bookkeeping is left out for tokens, not what dashboards read: the worker is
    busy with the token while its job runs (the token's hash bound to expire should the worker
    die), then idle, the token gone once the job is recorded."""
    import threading
    import time

    from rq import Worker

    job = services.job_create(job_type="test_sleep", params={"seconds": 1.5})
    token_id = queue.get_queue("light").job_ids[0]
    connection = queue.get_connection()
    seen, stop = [], threading.Event()

    def look():
        while not stop.is_set():
            for worker in Worker.all(connection=connection):
                ttl = connection.ttl(f"rq:job:{token_id}")
                seen.append((worker.get_state(), worker.get_current_job_id(), ttl))
            time.sleep(0.05)

    looking = threading.Thread(target=look)
    looking.start()
    try:
        run_burst_worker()
    finally:
        stop.set()
        looking.join()
    busy = [ttl for state, current, ttl in seen if (state, current) == ("busy", token_id)]
    assert busy and all(ttl > 0 for ttl in busy), seen
    assert Job.objects.get(id=job.id).status == JobStatus.COMPLETED
    assert not connection.exists(f"rq:job:{token_id}")


def test_a_token_whose_run_raises_leaves_the_worker_taking_the_next(monkeypatch, caplog):
    """An error out of a token's run (none is expected: the claim and the record never raise)
    is logged, as RQ fails a job, and the worker takes the next token; the claimed job is left
    to the rescue."""
    run = runner.run_claimed
    calls = []

    def failing_once(handed):
        calls.append(handed.job.id)
        if len(calls) == 1:
            raise RuntimeError("fork server on fire")
        return run(handed)

    monkeypatch.setattr(runner, "run_claimed", failing_once)
    first, second = (services.job_create(job_type="noop") for _ in range(2))
    run_burst_worker()
    assert Job.objects.get(id=first.id).status == JobStatus.PROCESSING
    assert Job.objects.get(id=second.id).status == JobStatus.COMPLETED
    assert any("fork server on fire" in r.exc_text for r in caplog.records if r.exc_text), [
        r.getMessage() for r in caplog.records
    ]


def test_a_token_taken_by_a_plain_rq_worker_still_runs_its_job():
    """`jobs.runner.run_next`, the token's function, for an RQ worker without the engine's
    class (`rqworker` without `--worker-class`): it claims and runs the job itself."""
    from rq import SimpleWorker

    job = services.job_create(job_type="noop")
    rq_queue = queue.get_queue("light")
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    job.refresh_from_db()
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, {"ok": True}, 1)
