"""A queued job's place in its queue and when it should start (API, SSE, admin).

**Position** is the number of the queue's due queued jobs that the claim order
(`jobs.services.claims`) puts before it: every job of a higher priority, then, within its
priority, the jobs that the users' turns put first. Turns are counted as the claim takes them:
a user's k-th queued job (oldest first) comes in turn `running + k`, where `running` is how many
of the user's jobs of the queue run now; within one turn, the user served longest ago goes
first. 0 means "next". It is a snapshot: a job created later at a higher priority, or by a user
whose turn comes sooner, can still pass it, and a user at the queue's per-user limit waits for
their own jobs to end. A job waiting for its due time (a retry's backoff) has no position yet.

**Estimated start**: with `slots` the queue's live workers (at most its concurrency limit),
`running` its jobs running now and `median` the median run time of its last 50 completed jobs,
the job starts once `position + running - slots + 1` jobs have ended (none when a slot is free),
at `slots / median` jobs a second: `now + max(0, position + running - slots + 1) * median /
slots`. None while the queue is paused, when no worker serves it or before it has run a job.
"""

import functools
import logging
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count as CountOf
from django.db.models import Min
from django.utils import timezone
from redis.exceptions import RedisError

from core.plainsql import Count
from jobs import queue as transport
from jobs.models import Job, QueueState
from jobs.registry import job_types_of, queue_of
from jobs.services.claims import NEVER, last_turns, owner_key, running_by_owner
from jobs.status import JobStatus

logger = logging.getLogger(__name__)

MEDIAN_SAMPLE = 50
# Figures that change slowly are kept a little while per process (a client polls every second).
_MEDIAN_TTL = 30.0
_WORKERS_TTL = 3.0
_cache: dict[tuple[str, str], tuple[float, object]] = {}

# The fields a job's detail (API, SSE) carries from here.
PLACE_FIELDS = ("queue", "queue_position", "estimated_start_at", "queue_paused")


@dataclass(frozen=True)
class QueuePlace:
    queue: str
    position: int | None
    estimated_start_at: datetime | None
    paused: bool


def clear_cached_figures() -> None:
    _cache.clear()


def _cached(kind: str, name: str, ttl: float, compute):
    key = (kind, name)
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    value = compute()
    _cache[key] = (time.monotonic() + ttl, value)
    return value


def median_run_seconds(name: str) -> float | None:
    """The median run time of the queue's last completed jobs (None before any)."""

    def compute():
        rows = (
            Job.objects.filter(
                status=JobStatus.COMPLETED,
                job_type__in=job_types_of(name),
                started_at__isnull=False,
            )
            .order_by("-completed_at")
            .values_list("started_at", "completed_at")[:MEDIAN_SAMPLE]
        )
        runs = [max(0.0, (end - start).total_seconds()) for start, end in rows if end]
        return statistics.median(runs) if runs else None

    return _cached("median", name, _MEDIAN_TTL, compute)


def live_worker_count(name: str) -> int | None:
    """Live workers serving the queue (None when Redis does not answer)."""

    def compute():
        try:
            return len(transport.live_workers(transport.get_queue(name, timeout=2.0)))
        except RedisError as exc:
            logger.warning("queue %s: cannot count its workers (%s)", name, exc)
            return None

    return _cached("workers", name, _WORKERS_TTL, compute)


class QueueSnapshot:
    """One queue's figures at one moment (its state, running jobs, due queued jobs by priority
    and owner, users' turns), from which the place of any of its queued jobs is counted with
    one more query: a page of the admin list counts its queued rows from one snapshot."""

    def __init__(self, name: str, *, now=None):
        self.name = name
        self.now = now or timezone.now()
        self.state = QueueState.objects.filter(name=name).first() or QueueState(name=name)
        self.job_types = job_types_of(name)
        self.running = running_by_owner(self.job_types)
        self.due = Job.objects.due_in_queue(self.job_types, self.now)
        self.groups: dict[
            int, dict[int, tuple[int, datetime]]
        ] = {}  # priority -> owner -> n, first
        rows = (
            self.due.values("priority", "owner_id")
            .annotate(n=CountOf("id"), first=Min("created_at"))
            .order_by()
        )
        for row in rows:
            self.groups.setdefault(row["priority"], {})[owner_key(row["owner_id"])] = (
                row["n"],
                row["first"],
            )
        owners = {key for group in self.groups.values() for key in group}
        self.turns = last_turns(name, owners)

    def place(self, *, job_id, priority, owner_id, created_at, run_after) -> QueuePlace:
        paused = self.state.paused
        if run_after is not None and run_after > self.now:
            return QueuePlace(self.name, None, None if paused else run_after, paused)
        position = self._position(job_id, priority, owner_id, created_at)
        return QueuePlace(self.name, position, self._estimate(position), paused)

    def _position(self, job_id, priority, owner_id, created_at) -> int:
        me = owner_key(owner_id)
        own = own_jobs_ahead(
            self.job_types, self.now, me, priority=priority, created_at=created_at, job_id=job_id
        )
        ahead = own + sum(
            n for p, group in self.groups.items() if p > priority for n, _ in group.values()
        )
        group = self.groups.get(priority, {})
        my_turn = self.running.get(me, 0) + own
        my_tie = (self.turns.get(me) or NEVER, group.get(me, (0, created_at))[1], me)
        for key, (count, first) in group.items():
            if key == me:
                continue
            start = self.running.get(key, 0)  # the turn of the user's first queued job
            ahead += max(0, min(count, my_turn - start))  # their jobs in earlier turns
            tie = (self.turns.get(key) or NEVER, first, key)
            if start <= my_turn < start + count and tie < my_tie:
                ahead += 1  # their job in the same turn goes first
        return ahead

    def _estimate(self, position: int) -> datetime | None:
        if self.state.paused:
            return None
        slots = live_worker_count(self.name)
        if slots and self.state.concurrency is not None:
            slots = min(slots, self.state.concurrency)
        median = median_run_seconds(self.name)
        if not slots or median is None:
            return None
        waits = max(0, position + sum(self.running.values()) - slots + 1)
        return self.now + timedelta(seconds=waits * median / slots)


@functools.cache
def _own_ahead_count(type_count: int, ownerless: bool) -> Count:
    types = ", ".join(["%s"] * type_count)
    owner = '"owner_id" IS NULL' if ownerless else '"owner_id" = %s'
    return Count(
        Job,
        f'WHERE "status" = %s AND "job_type" IN ({types})'
        ' AND ("run_after" IS NULL OR "run_after" <= %s)'
        f' AND {owner} AND "priority" = %s'
        ' AND ("created_at" < %s OR ("created_at" = %s AND "id" < %s))',
    )


def own_jobs_ahead(job_types, now, owner, *, priority, created_at, job_id) -> int:
    """How many due jobs of the same owner (0: ownerless) and priority come before this one
    (creation order) in a queue of these types: counted on every poll of a queued job, so in
    plain SQL (core.plainsql), the ORM's compilation costing several times the query."""
    query = _own_ahead_count(len(job_types), owner == 0)
    owner_param = [] if owner == 0 else [owner]
    return query.value(
        JobStatus.QUEUED.value,
        *job_types,
        now,
        *owner_param,
        priority,
        created_at,
        created_at,
        job_id,
    )


def queue_place(
    *, job_id, job_type, status, priority, owner_id, created_at, run_after, now=None
) -> QueuePlace | None:
    """The place of a queued job in its queue (None for a job that is not queued, or whose
    type is not installed)."""
    name = queue_of(job_type)
    if status != JobStatus.QUEUED or name is None:
        return None
    return queue_snapshot(name, now=now).place(
        job_id=job_id,
        priority=priority,
        owner_id=owner_id,
        created_at=created_at,
        run_after=run_after,
    )


def queue_snapshot(name: str, *, now=None) -> "QueueSnapshot":
    """The queue's snapshot, shared for EF_QUEUE_SNAPSHOT_TTL seconds by every poll in this
    process: a place is a snapshot anyway, and clients polling queued jobs would otherwise pay
    four queries each (one count query per job remains)."""
    ttl = settings.QUEUE_SNAPSHOT_TTL
    if ttl <= 0 or now is not None:
        return QueueSnapshot(name, now=now)
    return _cached("snapshot", name, ttl, lambda: QueueSnapshot(name))


def queue_places(jobs) -> dict:
    """{job id: QueuePlace} of the queued ones among `jobs` (one snapshot per queue)."""
    snapshots: dict[str, QueueSnapshot] = {}
    places = {}
    for job in jobs:
        name = queue_of(job.job_type)
        if job.status != JobStatus.QUEUED or name is None:
            continue
        if name not in snapshots:
            snapshots[name] = QueueSnapshot(name)
        places[job.id] = snapshots[name].place(
            job_id=job.id,
            priority=job.priority,
            owner_id=job.owner_id,
            created_at=job.created_at,
            run_after=job.run_after,
        )
    return places


def job_queue_place(job: Job, *, now=None) -> QueuePlace | None:
    return queue_place(
        job_id=job.id,
        job_type=job.job_type,
        status=job.status,
        priority=job.priority,
        owner_id=job.owner_id,
        created_at=job.created_at,
        run_after=job.run_after,
        now=now,
    )


def place_fields(place: QueuePlace | None, job_type: str) -> dict:
    """The PLACE_FIELDS of a job's detail."""
    return {
        "queue": place.queue if place else queue_of(job_type),
        "queue_position": place.position if place else None,
        "estimated_start_at": place.estimated_start_at if place else None,
        "queue_paused": place.paused if place else False,
    }
