"""The one place a job's status changes.

Every change is a conditional update, `filter(id=..., status__in=<allowed>).update(...)`, so two
workers can never both claim a job and a cancelled job is never resurrected by a late worker
write. What may follow what is `jobs.status.ALLOWED_FROM`; a caller may narrow it, never widen it.

In the same transaction the job's type hears of the change (`JobType.on_change`), so the rows
that follow a job (a project generating, an export rendering) change with it or not at all; the
change is appended to the job's event log (`events.job_event_record`, by the update's own
statement on PostgreSQL); and after a terminal status, the job's webhook is scheduled.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs import webhooks
from jobs.errors import UnknownJobType
from jobs.models import Job
from jobs.registry import get_job_type
from jobs.services.events import ENDED_WORKER, event_kind
from jobs.services.jobupdate import update_returning
from jobs.status import ALLOWED_FROM, TERMINAL


def transition(
    job_id,
    target: str,
    *,
    only_from=None,
    where: Q | None = None,
    change: str | None = None,
    event: str | None = None,
    **fields,
) -> Job | None:
    """Move a job to `target` when its status allows it; returns the changed job, or None when
    the row was not in an allowed status (or did not match `where`).

    `only_from` narrows the statuses allowed by the state machine; `where` adds a condition
    (a claim's due time, a rescue's heartbeat); `change` is what the type's hook is told when
    the status alone does not say it (`JobChange`); `event` is the event log's kind when the
    change does not say it (`JobEvent.Kind.RESCUED`); `fields` are written with the status."""
    allowed = ALLOWED_FROM[target]
    if only_from is not None:
        if not set(only_from) <= allowed:
            raise ValueError(f"{target} cannot follow {sorted(set(only_from) - allowed)}")
        allowed = frozenset(only_from)
    fields.setdefault("updated_at", timezone.now())
    if target in TERMINAL:
        fields["reserved_usd"] = 0  # its budget reservation ends with it (jobs.budgets)
    # No savepoint when called inside a caller's transaction (a claim, a retry): an error here
    # undoes the caller's whole transaction, as none of them goes on after one.
    with transaction.atomic(savepoint=False):
        kind = event or event_kind(target, change)
        # A retry or a rescue clears the worker: its event names the worker of the ended attempt.
        ended_worker = ""
        if kind in ENDED_WORKER and fields.get("worker") == "":
            ended_worker = Job.objects.filter(id=job_id).values_list("worker", flat=True).first()
        job = update_returning(
            job_id, allowed, {"status": target, **fields}, where, event=(kind, ended_worker or "")
        )
        if job is None:
            return None
        tell_job_type(job, change or target)
        if target in TERMINAL:
            webhooks.webhook_schedule(job=job)
    return job


def tell_job_type(job: Job, change: str) -> None:
    """Run the job type's `on_change` hook (inside the caller's transaction)."""
    try:
        hook = get_job_type(job.job_type).on_change
    except UnknownJobType:  # a type removed from the code has nothing to follow it
        return
    if hook is not None:
        hook(job, change)
