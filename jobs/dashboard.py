"""The operator dashboard's figures, aggregated in SQL (COUNT/SUM grouped by status, type,
TruncMinute/TruncHour buckets; percentiles read by rank with ORDER BY ... OFFSET), the same on
SQLite and PostgreSQL; no loop over job rows in Python.

Two kinds of figures, side by side:
- all time: every job and cost entry in the database, imported history included;
- the window (the last hour, 24 hours or 7 days, ending now): finished jobs are counted by when
  they ENDED inside it (completed_at, or their creation when they have none: the one end-time
  rule, JobQuerySet.ended_since), "created" counts jobs by created_at inside it, costs by when
  they were recorded. Queued and processing jobs are counted as they are now.
The window starts on a bucket boundary so the throughput chart's bars add up to the windowed
counts exactly.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Value
from django.db.models.functions import Coalesce, TruncHour, TruncMinute
from django.utils import timezone
from redis.exceptions import RedisError

from core import deprecation
from core.leases import MAINTENANCE_LEASE, lease_state
from jobs.budgets import month_start
from jobs.costs import all_time_spend, cost_totals, usage_totals
from jobs.counts import imported_count, job_counts
from jobs.dashboard_charts import UNITS, Series, bar_chart, bucket_starts, floor_to
from jobs.dashboard_runtimes import duration_stats, percentile  # noqa: F401 (tests read them)
from jobs.models import ENDED_AT, CostEntry, Job, UsageBudget
from jobs.status import ACTIVE, TERMINAL, JobStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    name: str
    label: str
    span: timedelta
    unit: str  # the throughput chart's bucket: minute or hour
    cost_unit: str  # the cost chart's bucket


WINDOWS = {
    w.name: w
    for w in (
        Window("1h", "last hour", timedelta(hours=1), "minute", "minute"),
        Window("24h", "last 24 hours", timedelta(hours=24), "minute", "hour"),
        Window("7d", "last 7 days", timedelta(days=7), "hour", "hour"),
    )
}
DEFAULT_WINDOW = "24h"
OLD_PATH_DAYS = 7
TRUNC = {"minute": TruncMinute, "hour": TruncHour}
THROUGHPUT_SERIES = [
    Series(JobStatus.COMPLETED, "completed", "#2e8540"),
    Series(JobStatus.FAILED, "failed", "#c0392b"),
]
SVG_COLORS = ["#417690", "#e09f3e", "#9e2a2b", "#2a9d8f", "#6a4c93", "#8a9a5b"]
NO_OWNER = "no owner"
# Users listed in "spend against budget"; past it the others share one row (1,000 rows of
# users would take the dashboard past 200 ms and help no one).
BUDGET_ROWS_MAX = 50


def window_start(window: Window, now):
    """The first instant of the window: `span` back from the end of the bucket holding now, so
    the window is exactly span / bucket buckets."""
    step = UNITS[window.unit]
    return floor_to(now, window.unit) + step - window.span


def _by(queryset, *fields) -> dict:
    """{(field values...): count} of a queryset grouped by `fields`, in one query."""
    rows = queryset.order_by().values(*fields).annotate(n=Count("pk"))
    return {tuple(row[f] for f in fields): row["n"] for row in rows}


JOB_TYPE_KEY = Coalesce("job_type", Value(""))  # job_type is never NULL: the same groups


@dataclass(frozen=True)
class WindowCounts:
    """The window's two grouped counts, each read once (from the job_status_ended and
    job_created indexes alone) and summed per status or type as each table needs."""

    ended: dict  # {(job type, status): terminal jobs that ended in the window}
    created: dict  # {(job type,): jobs created in the window}

    @classmethod
    def read(cls, since) -> "WindowCounts":
        # Grouped on an expression of job_type, not the column: SQLite would otherwise walk the
        # whole job_type_status index in order (to save a sort) instead of the window's range.
        ended = Job.objects.ended_since(since).annotate(type_key=JOB_TYPE_KEY)
        created = Job.objects.filter(created_at__gte=since).annotate(type_key=JOB_TYPE_KEY)
        return cls(ended=_by(ended, "type_key", "status"), created=_by(created, "type_key"))


def _per_status(counts: dict) -> dict:
    """{(job type, status): n} -> {status: n}."""
    total = dict.fromkeys(JobStatus.values, 0)
    for (_, status), n in counts.items():
        total[status] = total.get(status, 0) + n
    return total


def status_figures(window: WindowCounts, all_time: dict) -> dict:
    """Per status: all time (from the per type and status counts), and in the window
    (finished ones by when they ended)."""
    ended = _per_status(window.ended)
    total = _per_status(all_time)
    rows = [
        {
            "status": value,
            "label": label,
            "all_time": total.get(value, 0),
            "window": ended.get(value, 0) if value in TERMINAL else None,
            "now": value in ACTIVE,
        }
        for value, label in JobStatus.choices
    ]
    return {
        "rows": rows,
        "all_time": sum(total.values()),
        "imported": imported_count(),  # the count ledger (jobs.counts)
        "created": sum(window.created.values()),
        "ended": sum(ended.values()),
    }


def all_time_counts() -> dict:
    """{(job type, status): jobs} over every row, from the count ledger that triggers keep
    (jobs.counts): milliseconds, where a GROUP BY over a million jobs takes 300 ms and more."""
    return job_counts()


def type_stats(since, hours: float, all_time: dict, window: WindowCounts) -> list[dict]:
    """Per job type: all-time counts, and over the window: created, ended per status,
    completed per hour, failure rate, median and p95 run time of the completed ones."""
    ended, created = window.ended, window.created
    done = Job.objects.ended_since(since).filter(
        status=JobStatus.COMPLETED, started_at__isnull=False
    )
    durations = duration_stats(done)
    per_type: dict[str, dict] = defaultdict(
        lambda: {"all_time": {s: 0 for s in JobStatus.values}, "counts": dict.fromkeys(TERMINAL, 0)}
    )
    for (job_type, status), n in all_time.items():
        per_type[job_type]["all_time"][status] = n
    for (job_type, status), n in ended.items():
        per_type[job_type]["counts"][status] = n
    stats = []
    for job_type in sorted(per_type):
        counts = per_type[job_type]["counts"]
        finished = counts[JobStatus.COMPLETED] + counts[JobStatus.FAILED]
        median, p95 = durations.get(job_type, (None, None))
        all_counts = per_type[job_type]["all_time"]
        stats.append(
            {
                "job_type": job_type,
                "all_time": sum(all_counts.values()),
                "all_time_counts": all_counts,
                "created": created.get((job_type,), 0),
                "counts": counts,
                "completed_per_hour": counts[JobStatus.COMPLETED] / hours,
                "failure_rate": counts[JobStatus.FAILED] / finished if finished else None,
                "median": median,
                "p95": p95,
            }
        )
    return stats


def throughput_chart(window: Window, since, now) -> dict:
    """Completed and failed jobs per minute (1 h, 24 h) or per hour (7 days), by end time."""
    bucket = TRUNC[window.unit](ENDED_AT)
    rows = (
        Job.objects.ended_since(since)
        .filter(status__in=[s.key for s in THROUGHPUT_SERIES])
        .order_by()
        .annotate(bucket=bucket)
        .values("bucket", "status")
        .annotate(n=Count("pk"))
    )
    values = {(row["bucket"], row["status"]): row["n"] for row in rows}
    buckets = bucket_starts(since, now, window.unit)
    return bar_chart(buckets, window.unit, THROUGHPUT_SERIES, values)


def cost_chart(window: Window, since, now) -> dict:
    """Paid-API cost per service per bucket over the window (one colour per paid service: free
    usage, edge and offline TTS at $0, is in the usage table, not the chart)."""
    entries = CostEntry.objects.filter(created_at__gte=since)
    totals = cost_totals(entries, [window.cost_unit, "service"])
    values = {tuple(t.key): t.cost_usd for t in totals}
    services = sorted({service for (_, service), usd in values.items() if usd})
    series = [Series(s, s, SVG_COLORS[i % len(SVG_COLORS)]) for i, s in enumerate(services)]
    buckets = bucket_starts(since, now, window.cost_unit)
    chart = bar_chart(buckets, window.cost_unit, series, values, money=True)
    for item in chart["legend"]:
        item["service"] = item["key"]
    return chart


def usage_by_service(since) -> list[dict]:
    """Per service over the window: calls, units per unit name, audio seconds and cost, free
    services (edge and offline TTS at $0) included."""
    entries = CostEntry.objects.filter(created_at__gte=since)
    costs = {total.key: total.cost_usd for total in cost_totals(entries, ["service"])}
    return [
        {
            "service": used.key[0],
            "entries": used.entries,
            "units": sorted(used.units.items()),
            "audio_seconds": used.audio_seconds,
            "cost": costs.get(used.key, Decimal(0)),
        }
        for used in sorted(usage_totals(entries, ["service"]), key=lambda u: u.key)
    ]


def spend_figures(usage: list[dict], budgets: dict) -> dict:
    """Paid-API spend: all time (imported costs included, from the spend ledger: no SUM of
    every entry), this month (the budget rows, which add up to every cost of the month) and in
    the window (the usage rows, one per service with costs in it): no query of their own."""
    return {
        "all_time": all_time_spend(),
        "month": budgets["total"],
        "window": sum((u["cost"] for u in usage), Decimal(0)),
    }


def queue_info() -> dict:
    """Queue depth and live workers from RQ; Redis being down is shown, not raised."""
    from jobs.queue import PROBE_TIMEOUT, get_queue, live_workers, queue_depth

    try:
        queue = get_queue(timeout=PROBE_TIMEOUT)
        workers = live_workers(queue)
        return {
            "ok": True,
            "depth": queue_depth(queue.connection),
            "workers": [
                {
                    "name": w.name,
                    "state": w.get_state(),
                    "current_job": w.get_current_job_id(),
                    "last_heartbeat": w.last_heartbeat,
                }
                for w in workers
            ],
        }
    except RedisError as exc:
        logger.warning("dashboard: Redis unreachable (%s)", exc)
        return {"ok": False, "error": str(exc), "depth": None, "workers": []}


def maintenance_info():
    """Which maintenance loop, on which host, holds the lease now (core.leases): one line of the
    dashboard, since only that one rescues, reconciles and cleans up."""
    return lease_state(MAINTENANCE_LEASE)


def stuck_jobs(now, limit: int = 50):
    """Processing jobs whose heartbeat is older than the rescue timeout."""
    before = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    return list(
        Job.objects.stale_processing(before)
        .select_related("owner")
        .order_by("heartbeat_at")[:limit]
    )


def spend_vs_budget(now) -> dict:
    """This month's paid-API spend per user against their budget (UsageBudget row, else the
    EF_MONTHLY_BUDGET_USD default when configured), and spend without an owner (imported
    costs, for one) as its own row: the rows add up to all of this month's spend."""
    default = getattr(settings, "EF_MONTHLY_BUDGET_USD", None)
    month = CostEntry.objects.filter(created_at__gte=month_start(now))
    spent = {total.key[0]: total.cost_usd for total in cost_totals(month, ["user"])}
    no_owner = spent.pop(None, None)
    budgets = {
        b.user.username: b for b in UsageBudget.objects.select_related("user").order_by("user_id")
    }
    rows = []
    for username in sorted(set(spent) | set(budgets)):
        budget = budgets.get(username)
        limit = budget.monthly_limit_usd if budget else default
        used = spent.get(username) or Decimal(0)
        limit = Decimal(str(limit)) if limit is not None else None
        rows.append(
            {
                "username": username,
                "spent": used,
                "limit": limit,
                "hard": budget.hard if budget else None,
                "percent": float(used / limit * 100) if limit else None,
            }
        )
    if len(rows) > BUDGET_ROWS_MAX:
        rows = _fold_budget_rows(rows)
    if no_owner is not None:
        rows.append(
            {"username": NO_OWNER, "no_owner": True, "spent": no_owner, "limit": None,
             "hard": None, "percent": None}
        )  # fmt: skip
    return {"rows": rows, "total": sum((r["spent"] for r in rows), Decimal(0))}


def _fold_budget_rows(rows: list[dict]) -> list[dict]:
    """The BUDGET_ROWS_MAX users nearest to (or past) their budget, then the biggest spenders,
    in name order, and one row for all the others' spend: the rows still add up."""
    ranked = sorted(rows, key=lambda r: (-(r["percent"] if r["percent"] is not None else -1),
                                         -r["spent"], r["username"]))  # fmt: skip
    shown, others = ranked[:BUDGET_ROWS_MAX], ranked[BUDGET_ROWS_MAX:]
    folded = {"username": f"{len(others)} other users", "others": len(others),
              "spent": sum((r["spent"] for r in others), Decimal(0)), "limit": None,
              "hard": None, "percent": None}  # fmt: skip
    return [*sorted(shown, key=lambda r: r["username"]), folded]


def old_path_usage(days: int = OLD_PATH_DAYS) -> dict:
    """Uses of the deprecated paths (the prototype's aliases, the web frontend's API) per path
    over the last `days` days, from core.deprecation's counts in Redis: when every count stays
    at zero, the old clients are gone and the paths can go. Redis down is shown, not raised."""
    try:
        usage = deprecation.usage_by_path(days=days)
    except RedisError as exc:
        logger.warning("dashboard: old path counts unavailable (%s)", exc)
        return {"ok": False, "error": str(exc), "days": days, "paths": [], "total": 0}
    paths = [
        {
            "method": u.old.method,
            "path": u.old.path,
            "successor": u.old.successor,
            "uses": u.total,
            "last_used": u.last_used,
            "per_day": list(reversed(u.per_day.items())),  # oldest first, for the row's days
        }
        for u in usage
    ]
    return {"ok": True, "days": days, "paths": paths, "total": sum(p["uses"] for p in paths)}


def dashboard_context(window: str = DEFAULT_WINDOW, now=None) -> dict:
    now = now or timezone.now()
    unknown = window if window not in WINDOWS else None
    chosen = WINDOWS.get(window) or WINDOWS[DEFAULT_WINDOW]
    since = window_start(chosen, now)
    all_time = all_time_counts()
    counts = WindowCounts.read(since)
    usage, budgets = usage_by_service(since), spend_vs_budget(now)
    return {
        "now": now,
        "window": chosen.name,
        "window_label": chosen.label,
        "unknown_window": unknown,
        "since": since,
        "windows": list(WINDOWS.values()),
        "status": status_figures(counts, all_time),
        "type_stats": type_stats(since, chosen.span.total_seconds() / 3600, all_time, counts),
        "throughput": throughput_chart(chosen, since, now),
        "queue": queue_info(),
        "maintenance": maintenance_info(),
        "stuck": stuck_jobs(now),
        "heartbeat_timeout": settings.JOB_HEARTBEAT_TIMEOUT,
        "cost_chart": cost_chart(chosen, since, now),
        "spend": spend_figures(usage, budgets),
        "usage": usage,
        "budgets": budgets,
        "month_start": month_start(now),
        "old_paths": old_path_usage(),
    }
