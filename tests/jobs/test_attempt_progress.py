"""Each attempt's progress and ETA start from zero: a retried or rescued attempt redoes the work,
and the percentage of the attempt before means nothing any more (real Redis, forking worker)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.status import JobStatus
from tests.conftest import run_burst_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_retried_attempt_starts_again_at_zero(settings):
    settings.JOB_RETRY_BACKOFF_BASE = 0.3
    job = services.job_create(job_type="test_attempt_progress", params={"fail_at": 60})
    run_burst_worker()
    job.refresh_from_db()
    # Waiting to retry: queued, the failed attempt's figures kept for the record, no ETA.
    assert (job.status, job.attempts, job.stage) == (JobStatus.QUEUED, 1, "retry_wait")
    assert job.progress == 60 and job.eta_seconds is None
    wait_for(lambda: services.jobs_reconcile() == 1, timeout=10, message="the backoff to pass")
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    # Attempt 2's 5 % was written over attempt 1's 60 % (monotonic within an attempt only).
    assert job.result == {"attempt": 2, "progress": 5.0, "stage": "work"}


def test_a_rescued_attempt_starts_again_at_zero(settings):
    job = services.job_create(job_type="test_attempt_progress", params={"fail_at": 60})
    claimed = services.job_claim(job_id=job.id)  # attempt 1, as a worker that is then lost
    assert claimed.attempts == 1 and claimed.progress == 0
    assert services.job_set_progress(
        job_id=job.id, percent=63.6, stage="work", label="Working", eta_seconds=40
    )
    later = timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 5)
    assert services.jobs_rescue_stale(now=later) == {"requeued": 1, "failed": 0}
    claimed = services.job_claim(job_id=job.id)  # attempt 2
    assert (claimed.attempts, claimed.progress, claimed.eta_seconds) == (2, 0.0, None)
    assert claimed.stage == "starting"
    # The new attempt's first figures are written (63.6 no longer holds them back).
    assert services.job_set_progress(
        job_id=job.id, percent=2, stage="work", label="Working", eta_seconds=30
    )
    assert Job.objects.get(id=job.id).progress == 2


def test_attempt_two_run_by_a_worker_after_a_rescue_starts_at_zero(settings):
    job = services.job_create(job_type="test_attempt_progress", params={"fail_at": 60})
    services.job_claim(job_id=job.id)
    services.job_set_progress(
        job_id=job.id, percent=63.6, stage="work", label="Working", eta_seconds=40
    )
    later = timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 5)
    assert services.jobs_rescue_stale(now=later)["requeued"] == 1
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result == {"attempt": 2, "progress": 5.0, "stage": "work"}
