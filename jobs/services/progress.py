"""A running job's progress and heartbeats: written only while the job is processing, and only by
the attempt that runs it, so a cancelled or rescued job is never touched by a late worker."""

from django.utils import timezone

from jobs.models import Job
from jobs.status import JobStatus


def job_set_progress(*, job_id, percent: float, stage: str, label: str, eta_seconds) -> bool:
    """Monotonic within an attempt: a lower percent than the stored one changes nothing (the
    claim of the next attempt starts it again from 0, `lifecycle.job_claim`)."""
    now = timezone.now()
    return bool(
        Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, progress__lte=percent).update(
            progress=percent,
            stage=stage[:50],
            stage_label=label[:200],
            eta_seconds=eta_seconds,
            heartbeat_at=now,
            updated_at=now,
        )
    )


def job_heartbeat(*, job_id, attempt: int) -> bool:
    """Refresh the heartbeat; False when the job is no longer ours (cancelled, rescued...)."""
    return bool(
        Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, attempts=attempt).update(
            heartbeat_at=timezone.now()
        )
    )


def job_is_processing(*, job_id, attempt: int) -> bool:
    return Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, attempts=attempt).exists()
