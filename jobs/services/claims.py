"""The worker's claim: which queued job of a queue runs next, under the queue's pause and limits.

A claim runs in one transaction holding the queue's `QueueState` row lock (SELECT ... FOR UPDATE
on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers already), so claims of one
queue never overlap: a paused queue starts nothing and its limits are never exceeded, whatever
the number of workers and hosts. The job itself still moves by `transition(queued ->
processing)`, a conditional update, so a job is claimed exactly once.

The order (`fair_key`), among the queue's due queued jobs of users under their limit:
1. priority, higher first;
2. the user with the fewest of this queue's jobs running;
3. the user whose job of this queue started longest ago (`QueueTurn`; never counts as longest),
   so users take turns (round-robin) and one user's burst cannot starve the others;
4. the user's oldest job first (then the owner id, for a total order).
`jobs.services.positions` counts a queued job's place under the same order.
"""

import os
import socket
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from jobs.models import Job, QueueState, QueueTurn
from jobs.registry import job_types_of, queue_of
from jobs.services import claimsql
from jobs.services.transitions import transition
from jobs.status import JobStatus

NEVER = datetime.min.replace(tzinfo=UTC)


def owner_key(owner_id) -> int:
    """The key of a user in turns and limits: jobs without an owner count as one user (0)."""
    return owner_id or 0


def fair_key(*, running: int, last_started, first_created, owner: int) -> tuple:
    """How users are ordered within one priority (smaller first); see the module doc."""
    return (running, last_started or NEVER, first_created, owner)


def queue_state(name: str, *, lock: bool = False) -> QueueState:
    """The queue's row (created when missing); `lock`: under SELECT ... FOR UPDATE (inside the
    caller's transaction)."""
    rows = QueueState.objects.select_for_update() if lock else QueueState.objects
    state = rows.filter(name=name).first()
    if state is None:
        QueueState.objects.get_or_create(name=name)
        state = rows.get(name=name)
    return state


def running_by_owner(job_types) -> dict[int, int]:
    """Running jobs of these types, per owner key."""
    rows = (
        Job.objects.filter(status=JobStatus.PROCESSING, job_type__in=job_types)
        .values("owner_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, int] = {}
    for row in rows:
        key = owner_key(row["owner_id"])
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def last_turns(queue: str, owners) -> dict[int, datetime]:
    return dict(
        QueueTurn.objects.filter(queue=queue, owner_key__in=list(owners)).values_list(
            "owner_key", "last_started_at"
        )
    )


def _next_job_id(queue: str, job_types, now, *, job_id, excluded, running):
    """The id of the job that the fair order puts first among the due jobs, or None."""
    heads = claimsql.queue_heads(job_types, now, job_id=job_id, excluded=excluded)
    if not heads:
        return None
    top = max(priority for priority, _owner, _first in heads)
    firsts = {owner_key(owner): first for priority, owner, first in heads if priority == top}
    if len(firsts) == 1:
        (chosen,) = firsts
    else:
        running = running if running is not None else running_by_owner(job_types)
        turns = last_turns(queue, firsts)
        chosen = min(
            firsts,
            key=lambda o: fair_key(
                running=running.get(o, 0),
                last_started=turns.get(o),
                first_created=firsts[o],
                owner=o,
            ),
        )
    return claimsql.oldest_job_id(
        job_types, now, owner_key=chosen, priority=top, job_id=job_id, excluded=excluded
    )


def _locked_limits(queue: str) -> claimsql.QueueLimits:
    limits = claimsql.queue_limits(queue, lock=True)
    if limits is None:  # the queue's first claim: its row is made with the defaults
        QueueState.objects.get_or_create(name=queue)
        limits = claimsql.queue_limits(queue, lock=True)
    return limits


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_claim_next(*, queue: str, job_id=None) -> Job | None:
    """queued -> processing for the job the fair order puts first in `queue` (or for `job_id`
    only, when given); None when nothing may start now: the queue is paused, at its limit, its
    due jobs belong to users at their limit, or it has none."""
    return job_claim_next_seeing_limits(queue=queue, job_id=job_id)[0]


def job_claim_next_seeing_limits(*, queue: str, job_id=None) -> tuple[Job | None, bool]:
    """`job_claim_next`, and whether the queue had a limit when the job was claimed: only then
    may its end free a slot that a token was turned away for (`queue_after_job`)."""
    job_types = job_types_of(queue)
    now = timezone.now()
    with transaction.atomic():
        limits = _locked_limits(queue)
        if limits.paused:
            return None, limits.limited
        running = running_by_owner(job_types) if limits.limited else None
        if limits.concurrency is not None and sum(running.values()) >= limits.concurrency:
            return None, True
        excluded = ()
        if limits.per_user_concurrency is not None:
            excluded = tuple(k for k, n in running.items() if n >= limits.per_user_concurrency)
        chosen = _next_job_id(
            queue, job_types, now, job_id=job_id, excluded=excluded, running=running
        )
        if chosen is None:
            return None, limits.limited
        job = _claim(chosen, now)
        if job is not None:
            claimsql.turn_taken(queue, owner_key(job.owner_id), now)
        return job, limits.limited


def job_claim(*, job_id) -> Job | None:
    """Claim one given job (a direct delivery, an operator's tool, a test), under its queue's
    pause and limits; None when someone else has it, it is not due, or it may not start now."""
    job_type = Job.objects.filter(id=job_id).values_list("job_type", flat=True).first()
    if job_type is None:
        return None
    queue = queue_of(job_type)
    if queue is None:  # a type no longer installed: the runner fails it saying so
        return _claim_unqueued(job_id)
    return job_claim_next(queue=queue, job_id=job_id)


def _claim_unqueued(job_id) -> Job | None:
    return _claim(job_id, timezone.now())


def _claim(job_id, now) -> Job | None:
    """queued -> processing when due: one more attempt, started now by this worker. Each attempt
    starts its progress and ETA from zero: a retried or rescued attempt redoes the work, so the
    percentage of the one before means nothing any more."""
    return transition(
        job_id,
        JobStatus.PROCESSING,
        where=Q(run_after__isnull=True) | Q(run_after__lte=now),
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        worker=_worker_name(),
        progress=0.0,
        stage="starting",
        stage_label="Starting",
        eta_seconds=None,
        updated_at=now,
    )
