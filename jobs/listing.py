"""GET /api/v1/jobs: one page of an owner's jobs, newest first, and their total, on plain
parameterised SQL (core.plainsql): compiling the querysets cost more CPU than running them.

The total comes from the per-owner ledger (jobs.owner_counts) unless the page is filtered by
date, which the ledger does not know: then the filtered jobs are counted.
"""

from django.db import connection

from core.plainsql import Select, quoted
from jobs.models import Job, JobRowTimes
from jobs.owner_counts import owner_job_count
from jobs.schemas import JobSummary

# scheduled_for is derived from the row (jobs.models.JobTimeRules), not stored.
_FIELDS = [name for name in JobSummary.model_fields if name != "scheduled_for"]
_TIME_INPUTS = ("imported", "run_after")  # read for the derived times, not answered
# (filter, its SQL condition): the only text that reaches the WHERE clause; values are %s.
_CONDITIONS = (
    ("status", '"status" = %s'),
    ("job_type", '"job_type" = %s'),
    ("created_after", '"created_at" >= %s'),
    ("created_before", '"created_at" < %s'),
)
_PAGES: dict[tuple[str, ...], Select] = {}


def _where(used: tuple[str, ...]) -> str:
    return " AND ".join(['"owner_id" = %s', *(sql for name, sql in _CONDITIONS if name in used)])


def _page_select(used: tuple[str, ...]) -> Select:
    if used not in _PAGES:
        rest = f'WHERE {_where(used)} ORDER BY "created_at" DESC LIMIT %s OFFSET %s'
        _PAGES[used] = Select(Job, [*_FIELDS, *_TIME_INPUTS], rest)
    return _PAGES[used]


def _filter_values(filters: dict) -> tuple[tuple[str, ...], list]:
    """The filters given (in _CONDITIONS' order) and their values as the database compares them."""
    used, values = [], []
    for name, _sql in _CONDITIONS:
        value = filters.get(name)
        if value is None:
            continue
        if name.startswith("created_"):
            value = connection.ops.adapt_datetimefield_value(value)
        used.append(name)
        values.append(str(value) if name == "status" else value)
    return tuple(used), values


def _count(owner_id: int, used: tuple[str, ...], values: list) -> int:
    sql = f"SELECT count(*) FROM {quoted(Job._meta.db_table)} WHERE {_where(used)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [owner_id, *values])
        return cursor.fetchone()[0]


def job_list_page(owner_id: int, *, limit: int, offset: int, **filters) -> dict:
    """{total, limit, offset, items}: the owner's jobs matching `filters` (status, job_type,
    created_after, created_before; None: not filtered), newest first."""
    used, values = _filter_values(filters)
    items = _page_select(used).fetch(owner_id, *values, limit, offset)
    for row in items:
        times = JobRowTimes(
            **{name: row[name] for name in ("status", "attempts", "completed_at", "created_at")},
            **{name: row.pop(name) for name in _TIME_INPUTS},
        )
        row["scheduled_for"] = times.scheduled_for
    if "created_after" in used or "created_before" in used:
        total = _count(owner_id, used, values)
    else:
        total = owner_job_count(
            owner_id, status=filters.get("status"), job_type=filters.get("job_type")
        )
    return {"total": total, "limit": limit, "offset": offset, "items": items}
