"""The maintenance loop's repairs: rescuing jobs whose worker was lost, and enqueueing queued rows
that RQ no longer holds (Redis is only transport; the database is the truth)."""

import shutil
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs import queue
from jobs.errors import UnknownJobType
from jobs.models import Job, JobEvent
from jobs.registry import get_job_type
from jobs.services.files import job_discard_outputs
from jobs.services.lifecycle import job_fail
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
                queue.enqueue(job.id, timeout=_timeout_of(job))
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


def _timeout_of(job: Job) -> int:
    try:
        return get_job_type(job.job_type).timeout
    except UnknownJobType:  # a type removed from the code: the runner will fail it clearly
        return 3600


def _remove_local_temp_dirs(job_id) -> None:
    root = settings.JOB_TEMP_DIR / "jobs"
    if root.is_dir():
        for path in root.glob(f"{job_id}-*"):
            shutil.rmtree(path, ignore_errors=True)


def jobs_reconcile(*, now=None) -> int:
    """Queued rows that RQ no longer holds (Redis flushed or restarted, crash between commit and
    enqueue, a retry whose backoff is over, a scheduled job whose `run_at` has come) are
    enqueued. Returns how many."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.JOB_RECONCILE_GRACE)
    count = 0
    for job in Job.objects.due_queued(now, grace).only("id", "job_type", "priority"):
        if not queue.is_held(job.id):
            if queue.enqueue(job.id, timeout=_timeout_of(job), at_front=job.priority > 0):
                count += 1
    return count
