"""The dashboard's run-time figures per job type: the median and the nearest-rank p95 of the
completed jobs' run times (started to completed), in one SQL query; never a loop over rows.

PostgreSQL answers with its ordered-set aggregates (percentile_cont for the median, the mean of
the two middle values; percentile_disc for the nearest-rank p95): one sort per type, about twice
as fast on a week of a million-job table (bench/admin_scale.py) as the portable reading, which
SQLite uses: each row numbered within its type by run time, only the rows at the median's and the
p95's ranks read.
"""

import math
from collections import defaultdict

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    Value,
)
from django.db.models import Window as Over
from django.db.models.functions import Coalesce, RowNumber

DURATION = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())


class RunSeconds(Func):
    """completed_at - started_at in seconds, a float computed by the database itself, to order
    by: on SQLite a datetime difference is otherwise a Python function called for every row.
    SQLite's julianday() is exact to ~40 µs only, so the figures themselves are the exact
    differences of the few rows picked."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()

    def __init__(self):
        super().__init__(F("completed_at"), F("started_at"))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, arg_joiner=") - julianday(",
                           template="((julianday(%(expressions)s)) * 86400.0)", **extra)  # fmt: skip


class _Percentile(Aggregate):
    """PostgreSQL's percentile_cont / percentile_disc(fraction) WITHIN GROUP (ORDER BY x)."""

    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, function: str, expression, fraction: float):
        super().__init__(expression, function=function, fraction=float(fraction),
                         output_field=DurationField())  # fmt: skip


def duration_stats(done) -> dict[str, tuple[float, float]]:
    """Per job type: the median (the mean of the two middle values for an even count) and the
    nearest-rank p95 of the run times of `done` (completed jobs with a start), in one query."""
    if connection.vendor == "postgresql":
        rows = (
            done.order_by()
            .values("job_type")
            .annotate(
                median=_Percentile("percentile_cont", DURATION, 0.5),
                p95=_Percentile("percentile_disc", DURATION, 0.95),
            )
        )
        return {
            r["job_type"]: (r["median"].total_seconds(), r["p95"].total_seconds()) for r in rows
        }
    return _ranked_duration_stats(done)


def _ranked_duration_stats(done) -> dict[str, tuple[float, float]]:
    """duration_stats, portable: each row is numbered within its type by run time
    (ROW_NUMBER() OVER ...), and only the rows at the median's and the p95's ranks are read,
    at most three per type."""
    # Partitioned on an expression of job_type, not the column: SQLite would otherwise walk the
    # whole job_type_status index (for its order) instead of the window's range.
    by_type = [Coalesce("job_type", Value(""))]
    ranked = done.annotate(
        rank=Over(RowNumber(), partition_by=by_type, order_by=RunSeconds().asc()),
        n=Over(Count("pk"), partition_by=by_type),
    ).annotate(
        # integer division on both databases: the ranks are 1-based
        low=(F("n") + 1) / 2,
        high=F("n") / 2 + 1,
        p95=(F("n") * 95 + 99) / 100,
    )
    wanted = ranked.filter(Q(rank=F("low")) | Q(rank=F("high")) | Q(rank=F("p95")))
    rows = wanted.order_by().values_list(
        "job_type", "rank", "low", "high", "p95", "started_at", "completed_at"
    )
    picked: dict[str, dict] = defaultdict(dict)
    for job_type, rank, low, high, p95, started, completed in rows:  # at most 3 per type
        for name, at in (("low", low), ("high", high), ("p95", p95)):
            if rank == at:  # the exact run time, to the microsecond
                picked[job_type][name] = (completed - started).total_seconds()
    return {job_type: ((p["low"] + p["high"]) / 2, p["p95"]) for job_type, p in picked.items()}


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of a list (the reference the SQL reading is tested against)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]
