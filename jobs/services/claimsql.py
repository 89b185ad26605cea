"""The claim's reads and its turn write in plain SQL: they run for every job a worker takes.

Building a queryset and compiling it costs several times the query itself (core.plainsql says
why the polling path does the same), and a claim made five of them. These say in SQL what the
ORM says in `JobQuerySet.due_in_queue` (the queue's due queued jobs) and in `claims` (a queue's
settings, the heads of its users, a user's oldest job, the turn): tests/jobs/test_claim_sql.py
compares both on SQLite and PostgreSQL. Table and column names come from the models' `_meta`;
every value is a parameter.
"""

from dataclasses import dataclass

from django.db import connection

from core.plainsql import quoted, statement_cursor
from jobs.models import Job, QueueState, QueueTurn
from jobs.status import JobStatus

_JOB = quoted(Job._meta.db_table)


def _col(model, name: str) -> str:
    return quoted(model._meta.get_field(name).column)


@dataclass(frozen=True)
class QueueLimits:
    paused: bool
    concurrency: int | None
    per_user_concurrency: int | None

    @property
    def limited(self) -> bool:
        return self.concurrency is not None or self.per_user_concurrency is not None


_LIMITS = (
    f"SELECT {_col(QueueState, 'paused')}, {_col(QueueState, 'concurrency')}, "  # noqa: S608
    f"{_col(QueueState, 'per_user_concurrency')} FROM {quoted(QueueState._meta.db_table)} "
    f"WHERE {_col(QueueState, 'name')} = %s"
)


def queue_limits(name: str, *, lock: bool = False) -> QueueLimits | None:
    """The queue's pause and limits (None when its row does not exist yet); `lock`: under
    SELECT ... FOR UPDATE where the database has it (SQLite's IMMEDIATE transactions already
    hold the one write lock)."""
    sql = _LIMITS
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with statement_cursor() as cursor:
        cursor.execute(sql, [name])
        row = cursor.fetchone()
    return None if row is None else QueueLimits(bool(row[0]), row[1], row[2])


def _due(job_types, now, *, job_id=None, excluded=()) -> tuple[str, list]:
    """WHERE of `Job.objects.due_in_queue(job_types, now)`, narrowed to `job_id` and without
    the jobs of the owner keys `excluded` (0: jobs without an owner)."""
    marks = ", ".join(["%s"] * len(job_types))
    run_after = _col(Job, "run_after")
    sql = (
        f"{_col(Job, 'status')} = %s AND {_col(Job, 'job_type')} IN ({marks}) "
        f"AND ({run_after} IS NULL OR {run_after} <= %s)"
    )
    params = [JobStatus.QUEUED.value, *job_types, connection.ops.adapt_datetimefield_value(now)]
    if job_id is not None:
        sql += f" AND {_col(Job, 'id')} = %s"
        params.append(Job._meta.pk.get_db_prep_value(job_id, connection))  # str or UUID
    owner = _col(Job, "owner")
    if 0 in excluded:
        sql += f" AND {owner} IS NOT NULL"
    others = [key for key in excluded if key != 0]
    if others:
        sql += f" AND ({owner} IS NULL OR {owner} NOT IN ({', '.join(['%s'] * len(others))}))"
        params += others
    return sql, params


def queue_heads(
    job_types, now, *, job_id=None, excluded=()
) -> list[tuple[int, int | None, object]]:
    """(priority, owner id, oldest creation) of each priority and owner among the due jobs.
    The creation time is as the database returns it: comparable with the others of the list."""
    where, params = _due(job_types, now, job_id=job_id, excluded=excluded)
    priority, owner, created = _col(Job, "priority"), _col(Job, "owner"), _col(Job, "created_at")
    sql = (
        f"SELECT {priority}, {owner}, MIN({created}) FROM {_JOB} "  # noqa: S608
        f"WHERE {where} GROUP BY {priority}, {owner}"
    )
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def oldest_job_id(job_types, now, *, owner_key: int, priority: int, job_id=None, excluded=()):
    """The id of the user's oldest due job at `priority` (creation, then id), or None."""
    where, params = _due(job_types, now, job_id=job_id, excluded=excluded)
    owner = _col(Job, "owner")
    if owner_key == 0:
        where += f" AND {owner} IS NULL"
    else:
        where += f" AND {owner} = %s"
        params.append(owner_key)
    where += f" AND {_col(Job, 'priority')} = %s"
    params.append(priority)
    order = f"{_col(Job, 'created_at')}, {_col(Job, 'id')}"
    sql = f"SELECT {_col(Job, 'id')} FROM {_JOB} WHERE {where} ORDER BY {order} LIMIT 1"  # noqa: S608
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else Job._meta.pk.to_python(row[0])


_TURN = (
    f"UPDATE {quoted(QueueTurn._meta.db_table)} "  # noqa: S608
    f"SET {_col(QueueTurn, 'last_started_at')} = %s "
    f"WHERE {_col(QueueTurn, 'queue')} = %s AND {_col(QueueTurn, 'owner_key')} = %s"
)


def turn_taken(queue: str, owner_key: int, now) -> None:
    """The user's job of `queue` started `now` (their row is made at their first job)."""
    with statement_cursor() as cursor:
        cursor.execute(_TURN, [connection.ops.adapt_datetimefield_value(now), queue, owner_key])
        if cursor.rowcount:
            return
    QueueTurn.objects.create(queue=queue, owner_key=owner_key, last_started_at=now)
