"""An operator's queue controls (pause, resume, limits) and keeping each queue's workers awake.

The pause and the limits live in the queue's `QueueState` row and hold at claim time
(`jobs.services.claims`). A token a worker takes while its queue may start nothing is dropped,
so the queue is woken again when that changes: on resume, after a job of a limited queue ends,
and by the maintenance loop's reconcile (`queues_top_up`), which keeps as many tokens waiting as
the queue has jobs that could start now.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from jobs import queue as transport
from jobs.models import Job, QueueState
from jobs.queues import QUEUES, validate_queue
from jobs.registry import job_types_of
from jobs.services import claimsql
from jobs.services.claims import queue_state, running_by_owner

logger = logging.getLogger(__name__)


def queue_pause(*, name: str, by: str = "") -> QueueState:
    """Stop starting the queue's jobs: they stay queued (keeping their place); running ones
    finish. Idempotent."""
    state = queue_state(validate_queue(name))
    if not state.paused:
        QueueState.objects.filter(name=name).update(
            paused=True, paused_at=timezone.now(), paused_by=by[:150], updated_at=timezone.now()
        )
        logger.info("queue %s paused by %s", name, by or "someone")
    state.refresh_from_db()
    return state


def queue_resume(*, name: str) -> QueueState:
    """Start the queue's jobs again, waking its workers. Idempotent."""
    state = queue_state(validate_queue(name))
    if state.paused:
        QueueState.objects.filter(name=name).update(
            paused=False, paused_at=None, paused_by="", updated_at=timezone.now()
        )
        logger.info("queue %s resumed", name)
    state.refresh_from_db()
    queue_top_up(name=name, grace=0)
    return state


def claimable_count(name: str, *, now=None, grace: float | None = None) -> int:
    """How many of the queue's jobs could start now: due, queued (untouched for `grace`
    seconds unless a due time was set: a fresh row's token is on its way), of users under the
    per-user limit, within the queue's free slots. 0 while paused."""
    state = queue_state(name)
    if state.paused:
        return 0
    now = now or timezone.now()
    grace = settings.JOB_RECONCILE_GRACE if grace is None else grace
    job_types = job_types_of(name)
    running = running_by_owner(job_types)
    due = Job.objects.due_queued(now, now - timedelta(seconds=grace)).filter(job_type__in=job_types)
    if state.per_user_concurrency is not None:
        for key, count in running.items():
            if count >= state.per_user_concurrency:
                due = due.exclude(Q(owner__isnull=True) if key == 0 else Q(owner_id=key))
    count = due.count()
    if state.concurrency is not None:
        count = min(count, max(0, state.concurrency - sum(running.values())))
    return count


def queue_top_up(*, name: str, now=None, grace: float | None = None) -> int:
    """Put tokens on the queue until as many wait as it has jobs that could start now.
    Returns how many were added (0 when Redis is unreachable: logged, tried again later)."""
    missing = claimable_count(name, now=now, grace=grace)
    if missing <= 0:
        return 0
    try:
        missing -= transport.waiting(name)
    except RedisError as exc:
        logger.warning("queue %s: cannot count its tokens (%s)", name, exc)
        return 0
    if missing > 0 and transport.wake(name, missing):
        return missing
    return 0


def queues_top_up(*, now=None) -> int:
    """Every queue topped up (the reconcile pass). Returns the number of tokens added."""
    return sum(queue_top_up(name=name, now=now) for name in QUEUES)


def queue_after_job(*, queue: str) -> None:
    """A job of `queue` ended: when the queue has limits, tokens may have been turned away
    while it ran, and its slot may let one of them start now."""
    limits = claimsql.queue_limits(queue)  # read after every job: plain SQL
    if limits is not None and limits.limited:
        queue_top_up(name=queue, grace=0)
