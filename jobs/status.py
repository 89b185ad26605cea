"""Job statuses and the transitions between them: the one place that says what may follow what."""

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.PROCESSING})

# target status -> statuses it may be reached from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    JobStatus.PROCESSING: frozenset({JobStatus.QUEUED}),
    JobStatus.COMPLETED: frozenset({JobStatus.PROCESSING}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.PROCESSING}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED, JobStatus.PROCESSING}),
    # queued again: a retry (failed/cancelled), a transient error or a rescue (processing)
    JobStatus.QUEUED: frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PROCESSING}),
}


def can_transition(current: str, target: str) -> bool:
    return current in ALLOWED_FROM.get(target, frozenset())


class JobChange(models.TextChoices):
    """What a job type's `on_change` hook is told (jobs.registry): the status changes, told apart
    where a type must know more than the new status, and the deletion of a job."""

    QUEUED = "queued", "Queued again by a retry (attempts start over)"
    RETRYING = "retrying", "Queued again after a failed attempt or a lost worker"
    PROCESSING = "processing", "Claimed by a worker"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed for good"
    CANCELLED = "cancelled", "Cancelled"
    DELETED = "deleted", "Deleted (cancelled first when it was still active)"
