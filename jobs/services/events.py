"""A job's event log: one `JobEvent` per status change, written in the transaction that makes it
(`transitions.transition`; the creation by `lifecycle.job_create`), and its attempts read from it.

An attempt is a `started` event and the event that ended it (`completed`, `failed`, `retrying`,
`rescued` or `cancelled`): when, on which worker, with what outcome and error. The API's
`GET /jobs/{id}/history` and the admin's event log show both.
"""

import functools
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import connection

from core.plainsql import quoted
from jobs.models import Job, JobEvent
from jobs.status import JobChange, JobStatus

Kind = JobEvent.Kind

_KIND_OF_STATUS = {
    JobStatus.PROCESSING: Kind.STARTED,
    JobStatus.COMPLETED: Kind.COMPLETED,
    JobStatus.FAILED: Kind.FAILED,
    JobStatus.CANCELLED: Kind.CANCELLED,
}
# Kinds that end an attempt, and those whose error is the attempt's (the row's `error`).
ENDS_ATTEMPT = frozenset({Kind.COMPLETED, Kind.FAILED, Kind.RETRYING, Kind.RESCUED, Kind.CANCELLED})
_WITH_ERROR = frozenset({Kind.FAILED, Kind.RETRYING, Kind.RESCUED})
# Kinds whose worker is the one of the attempt the change ended (the row's is cleared by then).
ENDED_WORKER = frozenset({Kind.RETRYING, Kind.RESCUED})


def event_kind(target: str, change: str | None) -> str:
    """The event a status change writes: a queued job is `retrying` after a failed attempt and
    `queued` after an operator's retry; a lost worker's requeue says `rescued` itself."""
    if target == JobStatus.QUEUED:
        return Kind.RETRYING if change == JobChange.RETRYING else Kind.QUEUED
    return _KIND_OF_STATUS[target]


_EVENT_FIELDS = [
    JobEvent._meta.get_field(name) for name in ("job", "attempt", "kind", "worker", "at", "error")
]
# Plain SQL: every job's claim and end append one (building the ORM's INSERT costs more).
_INSERT_EVENT = (
    f"INSERT INTO {quoted(JobEvent._meta.db_table)} "  # noqa: S608  (names from the model)
    f"({', '.join(quoted(f.column) for f in _EVENT_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_EVENT_FIELDS))})"
)


def _event_worker(kind: str, worker: str) -> str | None:
    """The worker an event of `kind` names: `worker` (the ended attempt's) for a retry or a
    rescue, none for a requeue, else None: the job's own as changed."""
    if kind == Kind.QUEUED:
        return ""
    return worker if kind in ENDED_WORKER else None


def job_event_record(*, job: Job, kind: str, worker: str = "") -> None:
    """Append an event for `job` as it is now (inside the caller's transaction)."""
    named = _event_worker(kind, worker)
    values = (
        job.id,
        job.attempts,
        kind,
        (job.worker if named is None else named)[:200],
        job.updated_at,
        job.error[:5000] if kind in _WITH_ERROR else "",
    )
    params = [f.get_db_prep_save(v, connection) for f, v in zip(_EVENT_FIELDS, values, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENT, params)


def job_event_insert_from(changed: str, *, kind: str, worker: str = "") -> tuple[str, list]:
    """`job_event_record` in SQL for each job row of `changed` (a PostgreSQL CTE of the rows an
    UPDATE returned), to run in the statement that changed them (`jobupdate`)."""
    named = _event_worker(kind, worker)
    sql = _insert_from_sql(changed, kind in _WITH_ERROR, named is None)
    return sql, [kind] if named is None else [kind, named[:200]]


@functools.cache
def _insert_from_sql(changed: str, with_error: bool, rows_worker: bool) -> str:
    def column(name: str) -> str:
        return quoted(Job._meta.get_field(name).column)

    values = [
        quoted(Job._meta.pk.column),
        column("attempts"),
        "%s",  # the kind
        f"SUBSTR({column('worker')}, 1, 200)" if rows_worker else "%s",
        column("updated_at"),
        f"SUBSTR({column('error')}, 1, 5000)" if with_error else "''",
    ]
    return (
        f"INSERT INTO {quoted(JobEvent._meta.db_table)} "  # noqa: S608  (names from the models)
        f"({', '.join(quoted(f.column) for f in _EVENT_FIELDS)}) "
        f"SELECT {', '.join(values)} FROM {changed}"
    )


@dataclass
class Attempt:
    attempt: int
    started_at: datetime
    worker: str
    ended_at: datetime | None = None
    outcome: str = "running"
    error: str = ""


def job_attempts(job: Job, events: list[JobEvent]) -> list[dict]:
    """The job's attempts in the order they ran, from its events (oldest first). An attempt
    whose end has no event yet is `running` while the job runs it, else `unknown`."""
    attempts: list[Attempt] = []
    open_attempt: Attempt | None = None
    for event in events:
        if event.kind == Kind.STARTED:
            open_attempt = Attempt(event.attempt, event.at, event.worker)
            attempts.append(open_attempt)
        elif event.kind in ENDS_ATTEMPT and open_attempt is not None:
            open_attempt.ended_at, open_attempt.outcome = event.at, event.kind
            open_attempt.error = event.error
            open_attempt = None
    if open_attempt is not None and not (
        job.status == JobStatus.PROCESSING and job.attempts == open_attempt.attempt
    ):
        open_attempt.outcome = "unknown"
    return [asdict(a) for a in attempts]


def job_history(job: Job) -> dict:
    """{events, attempts} of a job, oldest first."""
    events = list(JobEvent.objects.filter(job_id=job.id).order_by("at", "id"))
    return {"events": events, "attempts": job_attempts(job, events)}
