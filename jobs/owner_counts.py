"""How many jobs an owner has (by status and type), from the per-owner ledger the count triggers
keep (`JobOwnerCount`, installed with the others by jobs.counts): the total of the jobs list is a
sum over a few rows, where counting a heavy owner's 100,000 jobs takes ~10 ms of index scan.

The maintenance loop folds the rows appended since its last fold, key by key; the owners whose
jobs did not change are not rewritten.
"""

from django.db import connection, connections, transaction

from jobs.models import JobOwnerCount

FOLD_ABOVE = 500  # rows appended since the last fold before the maintenance loop folds them

# PostgreSQL: one statement, one snapshot: rows appended meanwhile are neither seen nor deleted.
_PG_FOLD = """
WITH touched AS (SELECT DISTINCT owner_id, job_type, status FROM {table} WHERE NOT folded),
gone AS (
    DELETE FROM {table} t USING touched
    WHERE (t.owner_id, t.job_type, t.status) = (touched.owner_id, touched.job_type, touched.status)
    RETURNING t.owner_id, t.job_type, t.status, t.n
)
INSERT INTO {table} (owner_id, job_type, status, n, folded)
SELECT owner_id, job_type, status, sum(n), TRUE FROM gone
GROUP BY owner_id, job_type, status HAVING sum(n) <> 0
"""
# SQLite (one writer): the touched keys' rows up to the last id, folded, then deleted.
_SQLITE_TOUCHED = """(owner_id, job_type, status) IN (
    SELECT DISTINCT owner_id, job_type, status FROM {table} WHERE NOT folded AND id <= %s)"""
_SQLITE_FOLD = [
    """INSERT INTO {table} (owner_id, job_type, status, n, folded)
SELECT owner_id, job_type, status, sum(n), 1 FROM {table} WHERE id <= %s AND {touched}
GROUP BY owner_id, job_type, status HAVING sum(n) <> 0""",
    "DELETE FROM {table} WHERE id <= %s AND {touched}",
]


def owner_job_count(
    owner_id: int, *, status: str | None = None, job_type: str | None = None
) -> int:
    """The owner's jobs (in `status`, of `job_type` when given): exact, as a COUNT would be.
    Plain SQL: on the jobs list's path, compiling a queryset would cost more than the sum."""
    table = JobOwnerCount._meta.db_table
    sql = f"SELECT coalesce(sum(n), 0) FROM {table} WHERE owner_id = %s"  # noqa: S608
    params = [owner_id]
    if status is not None:
        sql += " AND status = %s"
        params.append(str(status))
    if job_type is not None:
        sql += " AND job_type = %s"
        params.append(job_type)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def owner_counts_fold(*, above: int = FOLD_ABOVE) -> bool:
    """Fold the keys touched since the last fold when more than `above` rows were appended
    (one row per key left, none for a key whose jobs are all gone); True when it folded."""
    if not JobOwnerCount.objects.filter(folded=False).order_by()[above : above + 1].exists():
        return False
    connection = connections["default"]
    table = JobOwnerCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FOLD.format(table=table))
            return True
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
        (last,) = cursor.fetchone()
        touched = _SQLITE_TOUCHED.format(table=table)
        for statement in _SQLITE_FOLD:
            cursor.execute(statement.format(table=table, touched=touched), [last, last])
    return True
