"""Redis is only transport: 100 queued jobs survive Redis being flushed and restarted (nothing
left in it), and again while the workers are busy. Real workers and the real maintenance loop run
against a private Redis; every job completes, each executed exactly once."""

import re
import time

import pytest
from django.utils import timezone
from rq import Worker
from rq.suspension import suspend

from jobs import queue, services
from jobs.models import Job
from jobs.status import JobStatus
from tests.chaos.servers import (
    PrivateRedis,
    base_env,
    executions,
    private_redis_for,
    start_maintenance,
    start_worker,
    stop_all,
)
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

JOBS = 100
# Long enough for RQ's own reconnect backoff (1, 2, 4, 8, 16... s) to grow past a few seconds.
OUTAGE_SECONDS = 20
# From Redis answering again to the first lost job starting: the maintenance loop's pass (0.5 s
# here) re-enqueues it, then an idle worker must be listening again.
FIRST_START_WITHIN = 5.0


@pytest.fixture
def private_redis(settings):
    with private_redis_for(settings) as server:
        yield server


def _flush_and_restart(server: PrivateRedis) -> None:
    server.client().flushall()
    server.restart()


def _completed() -> int:
    return Job.objects.filter(status=JobStatus.COMPLETED).count()


def _supervise(workers: list, *, env, log_dir) -> list:
    """Replace the workers that exited, as `manage.py up`'s supervisor (or systemd) does: an RQ
    worker quits when Redis goes away while it watches a running job. Returns the dead ones."""
    dead = [w for w in workers if not w.alive()]
    for worker in dead:
        workers[workers.index(worker)] = start_worker(env=env, log_dir=log_dir)
    return dead


def _reconciled(maintenance_output: str) -> int:
    return sum(int(n) for n in re.findall(r"reconciled: (\d+) enqueued", maintenance_output))


def test_jobs_lost_by_redis_restarts_all_complete_exactly_once(private_redis, tmp_path):
    record_dir = tmp_path / "executions"
    record_dir.mkdir()
    jobs = [
        services.job_create(
            job_type="test_record", params={"record_dir": str(record_dir), "seconds": 0.05}
        )
        for _ in range(JOBS)
    ]
    assert queue.queue_depth() == JOBS

    _flush_and_restart(private_redis)
    assert queue.queue_depth() == 0  # RQ lost every job; the database still has them all
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == JOBS

    env = base_env(EF_USE_TEST_DB="1", REDIS_URL=private_redis.url)
    workers = [start_worker(env=env, log_dir=tmp_path) for _ in range(2)]
    maintenance = start_maintenance(env=env, log_dir=tmp_path, interval=0.5)
    replaced = []
    try:
        wait_for(lambda: _completed() >= 30, timeout=90, interval=0.2, message="30 jobs done")

        _flush_and_restart(private_redis)  # again, with jobs running and the rest queued

        def all_done() -> bool:
            replaced.extend(_supervise(workers, env=env, log_dir=tmp_path))
            return _completed() == JOBS

        wait_for(all_done, timeout=120, interval=0.3, message="all jobs done")
        assert maintenance.alive(), maintenance.output()
    finally:
        stop_all([*workers, maintenance, *replaced])

    runs = executions(record_dir)
    assert runs == {str(job.id): 1 for job in jobs}, "a job ran twice or never"
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}
    _assert_only_lost_claims_were_retried()
    assert _reconciled(maintenance.output()) >= JOBS  # the maintenance loop put them back


def _assert_only_lost_claims_were_retried() -> None:
    """Each job on its first attempt, except one a worker had claimed when the restart cut its
    work horse off before the handler began (RQ's start-of-job writes failed; on a loaded
    machine the window is wide enough to hit): the heartbeat rescue requeued it and it ran on
    attempt 2. Its handler ran once all the same (the executions above); a second attempt of a
    job whose handler had run would show there as a second run."""
    for job in Job.objects.exclude(attempts=1):
        attempts = services.job_history(job)["attempts"]
        assert job.attempts == 2 and len(attempts) == 2, attempts
        assert attempts[0]["error"].startswith("worker lost"), attempts


def test_idle_workers_take_work_seconds_after_redis_comes_back_empty(private_redis, tmp_path):
    """Two idle workers through a 20 s Redis outage: the jobs created meanwhile (their enqueue
    failed) are re-enqueued by the maintenance loop when Redis is back, empty, and each idle
    worker takes one within a few seconds, not after RQ's reconnect backoff (up to 60 s)."""
    record_dir = tmp_path / "executions"
    record_dir.mkdir()
    env = base_env(EF_USE_TEST_DB="1", REDIS_URL=private_redis.url)
    workers = [start_worker(env=env, log_dir=tmp_path) for _ in range(2)]
    maintenance = start_maintenance(env=env, log_dir=tmp_path, interval=0.5)
    try:
        wait_for(
            lambda: len(Worker.all(queue=queue.get_queue())) == 2,
            timeout=60,
            message="two idle workers listening",
        )
        private_redis.stop()
        down_since = time.monotonic()
        # Each job outlasts the measurement: the second one can only start on the other worker.
        jobs = [
            services.job_create(
                job_type="test_record", params={"record_dir": str(record_dir), "seconds": 8}
            )
            for _ in range(2)
        ]
        time.sleep(max(0.0, down_since + OUTAGE_SECONDS - time.monotonic()))
        private_redis.start()
        back_at = timezone.now()

        def started():
            rows = Job.objects.filter(id__in=[j.id for j in jobs], started_at__isnull=False)
            return list(rows.values_list("started_at", flat=True)) if rows.count() == 2 else None

        starts = wait_for(started, timeout=90, interval=0.1, message="both jobs started")
        waits = sorted((at - back_at).total_seconds() for at in starts)
        print(f"Redis back after {OUTAGE_SECONDS} s down: jobs started after {waits} s")
        dead = [w.output() for w in workers if not w.alive()]
        assert not dead, f"a worker quit during the outage: {dead}"
        assert waits[-1] < FIRST_START_WITHIN, f"an idle worker took {waits[-1]:.1f} s"
        wait_for(lambda: _completed() == 2, timeout=60, message="both jobs done")
    finally:
        stop_all([*workers, maintenance])
    assert executions(record_dir) == {str(job.id): 1 for job in jobs}


def test_a_redis_outage_during_a_long_job_neither_stops_nor_repeats_it(private_redis, tmp_path):
    """The worker watching its running horse beats every second here; Redis gone for 4 s in the
    middle of the job must not end the worker (its horse dies with it: the job would run again)
    and the job completes, once. No maintenance loop: a lost job would stay processing."""
    record_dir = tmp_path / "executions"
    record_dir.mkdir()
    env = base_env(
        EF_USE_TEST_DB="1", REDIS_URL=private_redis.url, EF_WORKER_HEARTBEAT_INTERVAL="1"
    )
    worker = start_worker(env=env, log_dir=tmp_path)
    try:
        job = services.job_create(
            job_type="test_record",
            params={"record_dir": str(record_dir), "seconds": 10, "steps": 10},
        )
        wait_for(
            lambda: Job.objects.filter(id=job.id, status=JobStatus.PROCESSING).exists(),
            timeout=60,
            message="the job running",
        )
        time.sleep(1.5)  # the worker beats once or twice
        private_redis.stop()
        time.sleep(4)  # several beats fail
        private_redis.start()
        wait_for(lambda: _completed() == 1, timeout=60, message="the job completed")
        assert worker.alive(), worker.output()
    finally:
        stop_all([worker])
    assert "beat skipped, Redis unreachable" in worker.output()
    assert executions(record_dir) == {str(job.id): 1}
    assert Job.objects.get(id=job.id).attempts == 1


def test_a_suspended_worker_rides_out_a_redis_outage(private_redis, tmp_path):
    """A worker suspended (`rq suspend`) checks Redis every second outside RQ's BLPOP retry, as
    its other steps between two BLPOPs do (the command channel and state at start, registry
    upkeep): Redis gone then must not end it. Redis comes back empty (no suspension left) and the
    worker takes the next job."""
    env = base_env(EF_USE_TEST_DB="1", REDIS_URL=private_redis.url)
    worker = start_worker(env=env, log_dir=tmp_path)
    # The reconciler puts a token back should this process's wake-up meet its stale connection.
    maintenance = start_maintenance(env=env, log_dir=tmp_path, interval=0.5)
    try:
        connection = queue.get_connection()
        wait_for(
            lambda: len(Worker.all(connection=connection)) == 1, timeout=60, message="a worker"
        )
        suspend(connection)
        services.job_create(job_type="noop")  # RQ checks the suspension after a job, not idle
        wait_for(
            lambda: Worker.all(connection=connection)[0].get_state() == "suspended",
            message="the worker suspended",
        )
        private_redis.stop()
        time.sleep(3)  # several suspension checks fail
        private_redis.start()
        services.job_create(job_type="noop")
        wait_for(lambda: _completed() == 2, timeout=60, message="the second job completed")
        assert worker.alive(), worker.output()
    finally:
        stop_all([worker, maintenance])
    assert "suspension not checked, Redis unreachable" in worker.output()
