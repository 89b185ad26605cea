"""The maintenance loop's repairs: rescuing jobs whose worker was lost, and waking queues whose
due jobs RQ carries no token for (Redis is only transport; the database is the truth)."""

import shutil
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs import queue
from jobs.models import Job, JobEvent
from jobs.registry import job_type_names, queue_of
from jobs.services.files import job_discard_outputs
from jobs.services.lifecycle import job_fail
from jobs.services.queues import queues_top_up
from jobs.services.transitions import transition
from jobs.status import JobChange, JobStatus

WORKER_LOST = "worker lost: no heartbeat for {seconds:.0f} s and no attempts left"


def jobs_rescue_stale(*, now=None, job_ids=None) -> dict[str, int]:
    """Processing jobs whose heartbeat is older than the timeout: requeue or fail 'worker lost'.
    `job_ids` limits the pass to those jobs (the admin's "requeue stuck" action)."""
    now = now or timezone.now()
    timeout = settings.JOB_HEARTBEAT_TIMEOUT
    counts = {"requeued": 0, "failed": 0}
    stale = Job.objects.stale_processing(now - timedelta(seconds=timeout))
    if job_ids is not None:
        stale = stale.filter(id__in=job_ids)
    for job in stale:
        _remove_local_temp_dirs(job.id)
        if job.attempts < job.max_attempts:
            job_discard_outputs(job_id=job.id)
            if _requeue_lost(job, timeout, now):
                counts["requeued"] += 1
                _wake_for(job)
        elif job_fail(job_id=job.id, message=WORKER_LOST.format(seconds=timeout)):
            counts["failed"] += 1
    return counts


def _requeue_lost(job: Job, timeout: float, now) -> bool:
    """Processing -> queued, unless the worker beat meanwhile (then it is not lost)."""
    requeued = transition(
        job.id,
        JobStatus.QUEUED,
        only_from=(JobStatus.PROCESSING,),
        where=Q(heartbeat_at=job.heartbeat_at),
        change=JobChange.RETRYING,
        event=JobEvent.Kind.RESCUED,
        error=f"worker lost: no heartbeat for {timeout:.0f} s (attempt {job.attempts}); requeued",
        worker="",
        run_after=None,
        stage="requeued",
        stage_label="Requeued after the worker was lost",
        updated_at=now,
    )
    return requeued is not None


def _wake_for(job: Job) -> None:
    name = queue_of(job.job_type)
    if name is not None:  # a type removed from the code: the reconcile fails it saying so
        queue.wake(name)


def _remove_local_temp_dirs(job_id) -> None:
    root = settings.JOB_TEMP_DIR / "jobs"
    if root.is_dir():
        for path in root.glob(f"{job_id}-*"):
            shutil.rmtree(path, ignore_errors=True)


UNINSTALLED = "job type '{job_type}' is not installed here (known: {known})"


def jobs_reconcile(*, now=None) -> int:
    """Each queue gets tokens for the due jobs that RQ no longer carries a token for (Redis
    flushed or restarted, a crash between commit and enqueue, a retry whose backoff is over, a
    scheduled job whose `run_at` has come, a queue resumed or under its limits again). Queued
    jobs of a type no longer installed fail, saying so (no worker would ever take them).
    Returns the number of tokens added."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.JOB_RECONCILE_GRACE)
    installed = job_type_names()
    orphans = Job.objects.due_queued(now, grace).exclude(job_type__in=installed)
    for job in orphans.only("id", "job_type"):
        message = UNINSTALLED.format(job_type=job.job_type, known=", ".join(installed))
        job_fail(job_id=job.id, message=message)
    return queues_top_up(now=now)
