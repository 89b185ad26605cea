"""The engine end to end with real Redis, real forking workers and the real database."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs import queue, services
from jobs.context import ProgressTracker
from jobs.errors import InvalidJobParams, UnknownJobType
from jobs.models import Job, JobFile
from jobs.runner import run_job
from jobs.status import JobStatus
from tests.conftest import pid_alive, run_burst_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _status(job) -> str:
    job.refresh_from_db()
    return job.status


def test_unknown_type_and_invalid_params_create_nothing():
    with pytest.raises(UnknownJobType, match="unknown job type 'nope'"):
        services.job_create(job_type="nope")
    with pytest.raises(InvalidJobParams) as err:
        services.job_create(job_type="test_sleep", params={"seconds": -1, "bogus": 1})
    fields = {tuple(d["loc"]) for d in err.value.details}
    assert ("params", "seconds") in fields and ("params", "bogus") in fields
    assert Job.objects.count() == 0
    assert queue.queue_depth() == 0


def test_create_enqueues_after_commit_and_a_worker_completes_it():
    job = services.job_create(job_type="test_sleep", params={"seconds": 0.2, "steps": 4})
    assert queue.waiting("light") == 1  # its queue's wake-up token
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.progress == 100 and job.result["slept"] == 0.2
    assert job.attempts == 1 and job.started_at <= job.completed_at
    assert job.expires_at > job.completed_at


def test_duplicate_delivery_runs_the_job_exactly_once():
    job = services.job_create(job_type="test_sleep", params={"seconds": 0.1, "steps": 1})
    # A second token of its queue (a duplicate wake-up) and a direct second delivery.
    queue.wake("light")
    run_burst_worker()
    assert run_job(str(job.id)) == "skipped"
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 1


def test_transient_errors_retry_with_backoff_until_success(settings):
    settings.JOB_RETRY_BACKOFF_BASE = 1.0  # long enough that "not due yet" holds on a busy machine
    job = services.job_create(job_type="test_flaky", params={"fail_times": 2})
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.attempts == 1
    assert "passing failure on attempt 1" in job.error
    first_delay = (job.run_after - job.updated_at).total_seconds()
    assert first_delay == pytest.approx(1.0, abs=0.05)
    just_before = job.run_after - timedelta(seconds=0.1)
    assert services.jobs_reconcile(now=just_before) == 0  # no enqueue before the backoff is over
    for attempt in (2, 3):
        wait_for(lambda: services.jobs_reconcile() == 1, timeout=10, message="backoff to pass")
        run_burst_worker()
        job.refresh_from_db()
        assert job.attempts == attempt
    assert job.status == JobStatus.COMPLETED
    assert job.result == {"succeeded_on_attempt": 3}


def test_retry_delay_grows_exponentially():
    delays = [services.retry_delay(n) for n in (1, 2, 3, 4)]
    base = settings.JOB_RETRY_BACKOFF_BASE
    assert delays == [base, base * 2, base * 4, base * 8]
    assert services.retry_delay(100) == settings.JOB_RETRY_BACKOFF_MAX


def test_transient_errors_fail_after_max_attempts():
    job = services.job_create(job_type="test_flaky", params={"fail_times": 10}, max_attempts=2)
    run_burst_worker()
    wait_for(lambda: services.jobs_reconcile() == 1, timeout=10, message="backoff")
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 2
    assert "passing failure on attempt 2" in job.error
    assert "Traceback" in job.error_detail


def test_permanent_errors_fail_at_once_with_a_readable_message():
    job = services.job_create(job_type="test_flaky", params={"permanent": True})
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error == "the input is bad: no retry"


def test_reconcile_after_redis_lost_its_data_runs_every_job():
    jobs = [services.job_create(job_type="noop") for _ in range(5)]
    # The queue's database only: parallel test processes (xdist) share a REDIS_URL server.
    queue.get_connection().flushdb()
    assert queue.queue_depth() == 0
    assert services.jobs_reconcile() == 5
    assert services.jobs_reconcile() == 0  # held now: no second copy
    run_burst_worker()
    assert {_status(j) for j in jobs} == {JobStatus.COMPLETED}


def test_reconcile_covers_a_crash_between_commit_and_enqueue():
    job = Job.objects.create(job_type="noop", updated_at=timezone.now() - timedelta(minutes=1))
    assert queue.queue_depth() == 0
    assert services.jobs_reconcile() == 1
    run_burst_worker()
    assert _status(job) == JobStatus.COMPLETED


def test_rescue_after_the_worker_is_killed_mid_job(worker_process):
    job = services.job_create(
        job_type="test_sleep", params={"seconds": 30, "steps": 300, "write_file": True}
    )
    worker = worker_process()
    wait_for(lambda: Job.objects.get(id=job.id).progress > 0, message="job to start")
    assert JobFile.objects.filter(job=job, role="output").exists()
    worker.kill()
    # Heartbeat not yet stale: nothing to rescue.
    assert services.jobs_rescue_stale() == {"requeued": 0, "failed": 0}
    time.sleep(settings.JOB_HEARTBEAT_TIMEOUT + 0.5)
    assert services.jobs_rescue_stale() == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and "worker lost" in job.error
    # The killed attempt's outputs and temp dir are gone.
    assert not JobFile.objects.filter(job=job, role="output").exists()
    assert not list((settings.JOB_TEMP_DIR / "jobs").glob(f"{job.id}-*"))


def test_rescue_fails_with_worker_lost_when_no_attempts_are_left():
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 5)
    job = Job.objects.create(
        job_type="noop", status=JobStatus.PROCESSING, attempts=3, max_attempts=3, heartbeat_at=stale
    )
    fresh = Job.objects.create(
        job_type="noop", status=JobStatus.PROCESSING, attempts=1, heartbeat_at=timezone.now()
    )
    assert services.jobs_rescue_stale() == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error.startswith("worker lost")
    assert _status(fresh) == JobStatus.PROCESSING


def test_cancel_of_a_running_ffmpeg_kills_it_within_two_seconds(worker_process):
    job = services.job_create(job_type="test_ffmpeg", params={"seconds": 120})
    worker_process()
    pid_file = settings.JOB_TEMP_DIR / "jobs" / f"{job.id}.ffmpeg.pid"
    wait_for(pid_file.exists, message="ffmpeg to start")
    wait_for(lambda: Job.objects.get(id=job.id).progress > 0, message="ffmpeg progress")
    ffmpeg_pid = int(pid_file.read_text())
    assert pid_alive(ffmpeg_pid)
    started = time.monotonic()
    services.job_cancel(job=job)
    wait_for(lambda: not pid_alive(ffmpeg_pid), timeout=2, interval=0.05, message="ffmpeg to die")
    assert time.monotonic() - started < 2
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    wait_for(
        lambda: not list((settings.JOB_TEMP_DIR / "jobs").glob(f"{job.id}-*")),
        timeout=5,
        message="temp dir removal",
    )


def test_cancel_of_a_queued_job_is_immediate_and_it_never_runs():
    job = services.job_create(job_type="noop")
    services.job_cancel(job=job)
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.attempts == 0


def test_cleanup_deletes_expired_jobs_and_exactly_their_files():
    # Retention (EF_JOB_RETENTION_DAYS, 14) counts from when a job ended.
    retention = timedelta(days=settings.JOB_RETENTION_DAYS)
    expired = Job.objects.create(
        job_type="noop",
        status=JobStatus.COMPLETED,
        completed_at=timezone.now() - retention - timedelta(hours=1),
    )
    kept = Job.objects.create(
        job_type="noop",
        status=JobStatus.COMPLETED,
        completed_at=timezone.now() - retention + timedelta(days=1),
    )
    names = {}
    for job in (expired, kept):
        name = default_storage.save(f"jobs/{job.id}/output/result.txt", ContentFile(b"data"))
        JobFile.objects.create(job=job, name=name, role="output", size=4)
        names[job.id] = name
    unrelated = default_storage.save("unrelated/keep.txt", ContentFile(b"keep"))
    assert services.jobs_cleanup_expired() == {"jobs": 1, "files": 1}
    assert not Job.objects.filter(id=expired.id).exists()
    assert not default_storage.exists(names[expired.id])
    assert default_storage.exists(names[kept.id]) and default_storage.exists(unrelated)


def test_progress_tracker_is_monotonic_throttled_and_estimates_eta():
    writes = []
    tracker = ProgressTracker(lambda **kw: writes.append(kw), min_interval=10)
    tracker.update(10, "a", "A")
    tracker.update(5)  # backwards: ignored
    tracker.update(20)  # same stage inside the throttle window: not written
    tracker.update(150, "b", "B")  # clamped to 100, stage change forces a write
    assert [w["percent"] for w in writes] == [10, 100]
    assert tracker.percent == 100


def test_progress_eta_comes_from_the_observed_rate(monkeypatch):
    clock = iter([100.0, 110.0, 120.0])
    monkeypatch.setattr("jobs.context.time.monotonic", lambda: next(clock))
    writes = []
    tracker = ProgressTracker(lambda **kw: writes.append(kw), min_interval=0)
    tracker.update(25, "a", "A")  # 10 s for 25% -> 30 s left
    tracker.update(50)  # 20 s for 50% -> 20 s left
    assert [w["eta"] for w in writes] == [30.0, 20.0]


def test_a_job_past_its_timeout_fails_at_once_with_a_clear_error():
    job = services.job_create(job_type="test_hang")
    started = time.monotonic()
    run_burst_worker()
    job.refresh_from_db()
    assert time.monotonic() - started < 10
    assert job.status == JobStatus.FAILED and job.attempts == 1  # a timeout is not retried
    assert job.error == "timed out after 2 s"


def test_a_missing_input_is_a_permanent_readable_failure():
    from tests.testapp.job_types import NoParams  # noqa: F401  (the type registry is loaded)

    job = services.job_create(job_type="probe")  # no "source" input given
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error == "missing input 'source'"
