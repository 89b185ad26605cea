"""The status state machine: allowed and illegal transitions, through the services."""

import pytest

from jobs import services
from jobs.errors import IllegalTransition
from jobs.models import Job
from jobs.status import JobStatus, can_transition

S = JobStatus


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (S.QUEUED, S.PROCESSING, True),
        (S.PROCESSING, S.COMPLETED, True),
        (S.PROCESSING, S.FAILED, True),
        (S.QUEUED, S.CANCELLED, True),
        (S.PROCESSING, S.CANCELLED, True),
        (S.FAILED, S.QUEUED, True),
        (S.CANCELLED, S.QUEUED, True),
        (S.COMPLETED, S.QUEUED, False),
        (S.COMPLETED, S.PROCESSING, False),
        (S.CANCELLED, S.PROCESSING, False),
        (S.FAILED, S.COMPLETED, False),
        (S.QUEUED, S.COMPLETED, False),
        (S.CANCELLED, S.COMPLETED, False),
    ],
)
def test_transition_table(current, target, allowed):
    assert can_transition(current, target) is allowed


def _job(status, **fields) -> Job:
    return Job.objects.create(job_type="noop", status=status, **fields)


@pytest.mark.django_db
def test_cancelled_job_is_never_resurrected_by_a_late_worker():
    job = _job(S.PROCESSING, attempts=1)
    services.job_cancel(job=job)
    assert services.job_complete(job_id=job.id, result={"late": True}) is False
    assert (
        services.job_set_progress(job_id=job.id, percent=50, stage="x", label="x", eta_seconds=None)
        is False
    )
    assert services.job_heartbeat(job_id=job.id, attempt=1) is False
    job.refresh_from_db()
    assert job.status == S.CANCELLED and job.result is None


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_cancel_of_a_finished_job_is_illegal(status):
    with pytest.raises(IllegalTransition):
        services.job_cancel(job=_job(status))
    assert Job.objects.get().status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.QUEUED, S.PROCESSING, S.COMPLETED])
def test_retry_only_from_failed_or_cancelled(status):
    with pytest.raises(IllegalTransition):
        services.job_retry(job=_job(status))
    assert Job.objects.get().status == status


@pytest.mark.django_db
def test_retry_resets_attempts_and_error(django_capture_on_commit_callbacks):
    job = _job(S.FAILED, attempts=3, error="boom", progress=40)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.job_retry(job=job)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error, job.progress) == (S.QUEUED, 0, "", 0)
    assert len(callbacks) == 1  # enqueued after commit


@pytest.mark.django_db
def test_progress_never_goes_backwards_in_the_database():
    job = _job(S.PROCESSING)
    assert services.job_set_progress(job_id=job.id, percent=60, stage="a", label="A", eta_seconds=3)
    assert not services.job_set_progress(
        job_id=job.id, percent=40, stage="a", label="A", eta_seconds=3
    )
    job.refresh_from_db()
    assert job.progress == 60
