"""Exact job counts without counting a million rows: ledgers kept by database triggers.

`JobCount` answers "how many jobs per type and status (and imported) are there now": every
insert, delete and status change of a job appends +1/-1 rows to it, in the same transaction as
the change, so the sum per key is exact and costs a few milliseconds (a GROUP BY over 1,000,000
jobs costs 300 ms and more). `JobTally` counts events that only grow: jobs created, jobs ended per
status, and completed jobs' run times in histogram buckets (/metrics).

Why triggers rather than code in `transitions.transition`: they see every write to the table,
including the bulk ones no service goes through (cleanup's DELETEs, import_jobs, a TRUNCATE, a
fill in a benchmark), and they cannot disagree with the rows. Why a ledger of +1/-1 rows rather
than one counter row per key: appending takes no lock another job's transaction waits for, so two
workers completing jobs of the same type never queue behind one counter row (nor deadlock).

The triggers are (re)installed, and `JobCount` rebuilt from the jobs themselves, after every
`migrate` (post_migrate, jobs.apps): SQLite drops a table's triggers when a migration rebuilds
the table (adding a NOT NULL column does), so installing them in one migration would not last.
The maintenance loop folds the ledgers into one row per key (`job_counts_compact`).
"""

import logging
import math

from django.db import connections, transaction
from django.db.models import Sum

from jobs.models import CostEntry, CostSum, Job, JobCount, JobOwnerCount, JobTally
from jobs.owner_counts import owner_counts_fold
from jobs.status import TERMINAL

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the run time histogram's buckets (/metrics: job_duration_seconds).
# Changing them takes effect at the next `migrate` (the triggers are rebuilt); the buckets
# already counted keep their bounds.
DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
COMPACT_ABOVE = 500  # ledger rows before the maintenance loop folds them

_TERMINAL_SQL = ", ".join(f"'{s}'" for s in sorted(TERMINAL))
_TABLES = {"job": Job._meta.db_table, "count": JobCount._meta.db_table,
           "tally": JobTally._meta.db_table, "cost": CostEntry._meta.db_table,
           "costsum": CostSum._meta.db_table, "owner": JobOwnerCount._meta.db_table}  # fmt: skip


def _bucket_case(run: str, infinity: str) -> str:
    """SQL: the bucket bound of a run time expression (NULL stays NULL)."""
    whens = " ".join(f"WHEN {run} <= {b} THEN {float(b)}" for b in DURATION_BUCKETS)
    return f"CASE WHEN {run} IS NULL THEN NULL {whens} ELSE {infinity} END"


# --- PostgreSQL: statement-level triggers (with transition tables) for INSERT and DELETE, so a
# bulk insert or delete appends one row per key, not one per job; a row-level trigger for the
# status changes; TRUNCATE empties the count ledger.
_PG_RUN = "extract(epoch FROM NEW.completed_at - NEW.started_at)"
_PG_SQL = [
    """
CREATE OR REPLACE FUNCTION {count}_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {count} (job_type, status, imported, n)
    SELECT job_type, status, imported, count(*) FROM new_rows GROUP BY 1, 2, 3;
    INSERT INTO {tally} (job_type, event, le, n, seconds)
    SELECT job_type, 'created', NULL, count(*), 0 FROM new_rows GROUP BY 1;{pg_owner_insert}
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION {count}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {count} (job_type, status, imported, n)
    SELECT job_type, status, imported, -count(*) FROM old_rows GROUP BY 1, 2, 3;{pg_owner_delete}
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION {count}_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    run double precision;
BEGIN
    INSERT INTO {count} (job_type, status, imported, n)
    VALUES (OLD.job_type, OLD.status, OLD.imported, -1), (NEW.job_type, NEW.status, NEW.imported, 1);{pg_owner_update}
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ({terminal}) THEN
        IF NEW.status = 'completed' THEN
            run := {pg_run};
        END IF;
        INSERT INTO {tally} (job_type, event, le, n, seconds)
        VALUES (NEW.job_type, NEW.status, {pg_bucket}, 1, coalesce(run, 0));
    END IF;
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION {count}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {count};{owner_truncate}
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE TRIGGER {count}_insert AFTER INSERT ON {job}
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {count}_insert()""",
    """CREATE OR REPLACE TRIGGER {count}_delete AFTER DELETE ON {job}
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {count}_delete()""",
    """CREATE OR REPLACE TRIGGER {count}_update AFTER UPDATE OF {update_columns} ON {job}
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.job_type IS DISTINCT FROM
NEW.job_type OR OLD.imported IS DISTINCT FROM NEW.imported{pg_owner_changed})
EXECUTE FUNCTION {count}_update()""",
    """CREATE OR REPLACE TRIGGER {count}_truncate AFTER TRUNCATE ON {job}
FOR EACH STATEMENT EXECUTE FUNCTION {count}_truncate()""",
    # costs: the spend per service (CostSum)
    """
CREATE OR REPLACE FUNCTION {costsum}_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {costsum} (service, micros, entries)
    SELECT service, sum(round(cost_usd * 1000000)::bigint), count(*) FROM new_rows GROUP BY 1;
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION {costsum}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {costsum} (service, micros, entries)
    SELECT service, -sum(round(cost_usd * 1000000)::bigint), -count(*) FROM old_rows GROUP BY 1;
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION {costsum}_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {costsum} (service, micros, entries)
    VALUES (OLD.service, -round(OLD.cost_usd * 1000000)::bigint, -1),
           (NEW.service, round(NEW.cost_usd * 1000000)::bigint, 1);
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION {costsum}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {costsum};
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE TRIGGER {costsum}_insert AFTER INSERT ON {cost}
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {costsum}_insert()""",
    """CREATE OR REPLACE TRIGGER {costsum}_delete AFTER DELETE ON {cost}
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {costsum}_delete()""",
    """CREATE OR REPLACE TRIGGER {costsum}_update AFTER UPDATE OF cost_usd, service ON {cost}
FOR EACH ROW WHEN (OLD.cost_usd IS DISTINCT FROM NEW.cost_usd OR OLD.service IS DISTINCT FROM
NEW.service) EXECUTE FUNCTION {costsum}_update()""",
    """CREATE OR REPLACE TRIGGER {costsum}_truncate AFTER TRUNCATE ON {cost}
FOR EACH STATEMENT EXECUTE FUNCTION {costsum}_truncate()""",
]

# --- SQLite: row-level triggers (SQLite has no other kind).
_SQLITE_RUN = "(julianday(NEW.completed_at) - julianday(NEW.started_at)) * 86400.0"
_SQLITE_SQL = [
    "DROP TRIGGER IF EXISTS {count}_insert",
    "DROP TRIGGER IF EXISTS {count}_delete",
    "DROP TRIGGER IF EXISTS {count}_update",
    "DROP TRIGGER IF EXISTS {costsum}_insert",
    "DROP TRIGGER IF EXISTS {costsum}_delete",
    "DROP TRIGGER IF EXISTS {costsum}_update",
    """CREATE TRIGGER {count}_insert AFTER INSERT ON {job} BEGIN
    INSERT INTO {count} (job_type, status, imported, n)
    VALUES (NEW.job_type, NEW.status, NEW.imported, 1);
    INSERT INTO {tally} (job_type, event, le, n, seconds)
    VALUES (NEW.job_type, 'created', NULL, 1, 0);{sqlite_owner_insert}
END""",
    """CREATE TRIGGER {count}_delete AFTER DELETE ON {job} BEGIN
    INSERT INTO {count} (job_type, status, imported, n)
    VALUES (OLD.job_type, OLD.status, OLD.imported, -1);{sqlite_owner_delete}
END""",
    """CREATE TRIGGER {count}_update AFTER UPDATE OF {update_columns} ON {job}
WHEN OLD.status IS NOT NEW.status OR OLD.job_type IS NOT NEW.job_type
    OR OLD.imported IS NOT NEW.imported{sqlite_owner_changed}
BEGIN
    INSERT INTO {count} (job_type, status, imported, n)
    VALUES (OLD.job_type, OLD.status, OLD.imported, -1), (NEW.job_type, NEW.status, NEW.imported, 1);
    INSERT INTO {tally} (job_type, event, le, n, seconds)
    SELECT NEW.job_type, NEW.status, {sqlite_bucket}, 1, coalesce(run, 0)
    FROM (SELECT CASE WHEN NEW.status = 'completed' THEN {sqlite_run} END AS run)
    WHERE NEW.status IN ({terminal}) AND OLD.status IS NOT NEW.status;{sqlite_owner_update}
END""",
    """CREATE TRIGGER {costsum}_insert AFTER INSERT ON {cost} BEGIN
    INSERT INTO {costsum} (service, micros, entries)
    VALUES (NEW.service, CAST(round(NEW.cost_usd * 1000000) AS INTEGER), 1);
END""",
    """CREATE TRIGGER {costsum}_delete AFTER DELETE ON {cost} BEGIN
    INSERT INTO {costsum} (service, micros, entries)
    VALUES (OLD.service, -CAST(round(OLD.cost_usd * 1000000) AS INTEGER), -1);
END""",
    """CREATE TRIGGER {costsum}_update AFTER UPDATE OF cost_usd, service ON {cost}
WHEN OLD.cost_usd IS NOT NEW.cost_usd OR OLD.service IS NOT NEW.service BEGIN
    INSERT INTO {costsum} (service, micros, entries)
    VALUES (OLD.service, -CAST(round(OLD.cost_usd * 1000000) AS INTEGER), -1),
           (NEW.service, CAST(round(NEW.cost_usd * 1000000) AS INTEGER), 1);
END""",
]


# The ledgers rebuilt from the rows themselves (install, after every migrate).
_REBUILD = [
    "DELETE FROM {count}",
    "INSERT INTO {count} (job_type, status, imported, n) "
    "SELECT job_type, status, imported, count(*) FROM {job} GROUP BY 1, 2, 3",
    "DELETE FROM {costsum}",
    "INSERT INTO {costsum} (service, micros, entries) "
    "SELECT service, sum(CAST(round(cost_usd * 1000000) AS BIGINT)), count(*) FROM {cost} "
    "GROUP BY 1",
]
_REBUILD_OWNER = [
    "DELETE FROM {owner}",
    "INSERT INTO {owner} (owner_id, job_type, status, n, folded) SELECT owner_id, job_type, "
    "status, count(*), TRUE FROM {job} WHERE owner_id IS NOT NULL GROUP BY 1, 2, 3",
]

# The per-owner ledger's parts of the triggers (JobOwnerCount, read by jobs.owner_counts): left
# out while its table does not exist (migrated back before it).
_OWNER_SQL = {
    "pg_owner_insert": """
    INSERT INTO {owner} (owner_id, job_type, status, n)
    SELECT owner_id, job_type, status, count(*) FROM new_rows WHERE owner_id IS NOT NULL
    GROUP BY 1, 2, 3;""",
    "pg_owner_delete": """
    INSERT INTO {owner} (owner_id, job_type, status, n)
    SELECT owner_id, job_type, status, -count(*) FROM old_rows WHERE owner_id IS NOT NULL
    GROUP BY 1, 2, 3;""",
    "pg_owner_update": """
    IF (OLD.owner_id, OLD.job_type, OLD.status) IS DISTINCT FROM
       (NEW.owner_id, NEW.job_type, NEW.status) THEN
        INSERT INTO {owner} (owner_id, job_type, status, n)
        SELECT OLD.owner_id, OLD.job_type, OLD.status, -1 WHERE OLD.owner_id IS NOT NULL
        UNION ALL SELECT NEW.owner_id, NEW.job_type, NEW.status, 1 WHERE NEW.owner_id IS NOT NULL;
    END IF;""",
    "pg_owner_changed": " OR OLD.owner_id IS DISTINCT FROM NEW.owner_id",
    "owner_truncate": "\n    DELETE FROM {owner};",
    "sqlite_owner_insert": """
    INSERT INTO {owner} (owner_id, job_type, status, n)
    SELECT NEW.owner_id, NEW.job_type, NEW.status, 1 WHERE NEW.owner_id IS NOT NULL;""",
    "sqlite_owner_delete": """
    INSERT INTO {owner} (owner_id, job_type, status, n)
    SELECT OLD.owner_id, OLD.job_type, OLD.status, -1 WHERE OLD.owner_id IS NOT NULL;""",
    "sqlite_owner_update": """
    INSERT INTO {owner} (owner_id, job_type, status, n)
    SELECT OLD.owner_id, OLD.job_type, OLD.status, -1 WHERE OLD.owner_id IS NOT NULL
        AND (OLD.owner_id, OLD.job_type, OLD.status) IS NOT (NEW.owner_id, NEW.job_type, NEW.status)
    UNION ALL SELECT NEW.owner_id, NEW.job_type, NEW.status, 1 WHERE NEW.owner_id IS NOT NULL
        AND (OLD.owner_id, OLD.job_type, OLD.status) IS NOT (NEW.owner_id, NEW.job_type, NEW.status);""",
    "sqlite_owner_changed": " OR OLD.owner_id IS NOT NEW.owner_id",
}


def _statements(vendor: str, *, with_owner: bool) -> list[str]:
    owner_parts = {k: v.format(**_TABLES) for k, v in _OWNER_SQL.items()} if with_owner else {}
    values = {
        **_TABLES,
        **{key: owner_parts.get(key, "") for key in _OWNER_SQL},
        "update_columns": "status, job_type, imported" + (", owner_id" if with_owner else ""),
        "terminal": _TERMINAL_SQL,
        "pg_run": _PG_RUN,
        "pg_bucket": _bucket_case("run", "'Infinity'::float8"),
        "sqlite_run": _SQLITE_RUN,
        "sqlite_bucket": _bucket_case("run", "9e999"),  # SQLite reads 9e999 as +inf
    }
    statements = _PG_SQL if vendor == "postgresql" else _SQLITE_SQL
    return [s.format(**values) for s in statements]


def job_counts_install(using: str = "default") -> None:
    """Install the triggers and rebuild the count and spend ledgers from the jobs and costs, in
    one transaction:
    on PostgreSQL, creating a trigger locks the table against writes until the commit, and
    SQLite has one writer, so no job changes between the rebuild and the triggers."""
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"job counts need PostgreSQL or SQLite, not {connection.vendor}")
    with_owner = _TABLES["owner"] in connection.introspection.table_names()
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for statement in _statements(connection.vendor, with_owner=with_owner):
            cursor.execute(statement)
        for statement in _REBUILD + (_REBUILD_OWNER if with_owner else []):
            cursor.execute(statement.format(**_TABLES))


_TRIGGERS = [  # (trigger and function name, table)
    *((f"{_TABLES['count']}_{op}", _TABLES["job"]) for op in ("insert", "delete", "update", "truncate")),
    *((f"{_TABLES['costsum']}_{op}", _TABLES["cost"]) for op in ("insert", "delete", "update", "truncate")),
]  # fmt: skip


def job_counts_uninstall(using: str = "default") -> None:
    """Remove the triggers (migrating back past the ledgers' tables)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        for name, table in _TRIGGERS:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def job_counts_installed(using: str = "default") -> bool:
    """True when the ledgers' tables exist (migrated far enough to hold them)."""
    connection = connections[using]
    tables = set(connection.introspection.table_names())
    return {_TABLES["count"], _TABLES["tally"], _TABLES["costsum"]} <= tables


def on_post_migrate(sender, using="default", **kwargs) -> None:
    if job_counts_installed(using):
        job_counts_install(using)


# --- reading --------------------------------------------------------------------------------------
def job_counts() -> dict[tuple[str, str], int]:
    """{(job type, status): jobs now}, every job counted (imported ones too)."""
    rows = (
        JobCount.objects.values_list("job_type", "status")
        .annotate(total=Sum("n"))
        .order_by()
        .filter(total__gt=0)
    )
    return dict(((job_type, status), total) for job_type, status, total in rows)


def imported_count() -> int:
    """Jobs now in the table that import_jobs brought in."""
    return JobCount.objects.filter(imported=True).aggregate(total=Sum("n"))["total"] or 0


def job_tallies() -> list[dict]:
    """[{job_type, event, le, n, seconds}] summed per key: events counted since the ledger
    began (the migration that made it), deleted jobs' events included."""
    return list(
        JobTally.objects.values("job_type", "event", "le")
        .annotate(total=Sum("n"), total_seconds=Sum("seconds"))
        .order_by("job_type", "event", "le")
    )


# --- folding ------------------------------------------------------------------------------------
_PG_COMPACT = """
WITH gone AS (DELETE FROM {table} RETURNING {keys}, {sums})
INSERT INTO {table} ({keys}, {sums})
SELECT {keys}, {summed} FROM gone GROUP BY {keys} {having}
"""


def _compact(model, keys: list[str], sums: list[str], drop_zero: str | None) -> None:
    """Fold a ledger into one row per key. On PostgreSQL the DELETE ... RETURNING and the INSERT
    are one statement with one snapshot: rows appended meanwhile by other transactions are not
    seen, so not deleted, and still counted. SQLite has one writer at a time."""
    connection = connections["default"]
    table = model._meta.db_table
    summed = ", ".join(f"sum({s})" for s in sums)
    having = f"HAVING sum({drop_zero}) <> 0" if drop_zero else ""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_COMPACT.format(table=table, keys=", ".join(keys),
                                              sums=", ".join(sums), summed=summed, having=having))  # fmt: skip
            return
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
        (last,) = cursor.fetchone()
        if last is None:
            return
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(sums)}) "  # noqa: S608
            f"SELECT {', '.join(keys)}, {summed} FROM {table} WHERE id <= %s "
            f"GROUP BY {', '.join(keys)} {having}",
            [last],
        )
        cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [last])  # noqa: S608


def job_counts_compact(*, above: int = COMPACT_ABOVE) -> bool:
    """Fold each ledger that has more than `above` rows (the per-owner one: more than `above`
    rows appended since its last fold, jobs.owner_counts); True when one was folded."""
    folded = False
    for model, keys, sums, drop_zero in (
        (JobCount, ["job_type", "status", "imported"], ["n"], "n"),
        (JobTally, ["job_type", "event", "le"], ["n", "seconds"], None),
        (CostSum, ["service"], ["micros", "entries"], "entries"),
    ):
        if model.objects.order_by()[above : above + 1].exists():
            _compact(model, keys, sums, drop_zero)
            folded = True
    return owner_counts_fold(above=above) or folded


def duration_buckets() -> list[float]:
    """The histogram's bounds, +inf last."""
    return [float(b) for b in DURATION_BUCKETS] + [math.inf]
