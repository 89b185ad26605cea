"""The operator dashboard's numbers: plain ORM reads, percentiles computed in Python.

Everything here must run the same on SQLite and PostgreSQL, so no database percentile
functions: durations of the window's completed jobs are fetched (two timestamps per row) and
ranked in Python.
"""

import logging
import math
import statistics
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from redis.exceptions import RedisError

from core import deprecation
from jobs.budgets import month_start
from jobs.costs import cost_totals, usage_totals
from jobs.models import CostEntry, Job, UsageBudget
from jobs.status import JobStatus

logger = logging.getLogger(__name__)

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
COST_DAYS = 14
OLD_PATH_DAYS = 7


def status_counts(since) -> dict[str, int]:
    """Jobs created since `since`, per status (every status present, zeros included)."""
    rows = Job.objects.filter(created_at__gte=since).values("status").annotate(n=Count("id"))
    counts = {status: 0 for status in JobStatus.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def status_rows(now) -> list[dict]:
    day, week = status_counts(now - WINDOWS["24h"]), status_counts(now - WINDOWS["7d"])
    return [
        {"status": value, "label": label, "day": day[value], "week": week[value]}
        for value, label in JobStatus.choices
    ]


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (the value below which `pct`% of the sample falls)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def type_stats(since, now) -> list[dict]:
    """Per job type over the window: counts, throughput, failure rate, median and p95 duration."""
    per_type: dict[str, dict] = defaultdict(lambda: {s: 0 for s in JobStatus.values})
    rows = Job.objects.filter(created_at__gte=since).values("job_type", "status")
    for row in rows.annotate(n=Count("id")):
        per_type[row["job_type"]][row["status"]] = row["n"]
    durations: dict[str, list[float]] = defaultdict(list)
    done = Job.objects.filter(
        status=JobStatus.COMPLETED, completed_at__gte=since, started_at__isnull=False
    ).values_list("job_type", "started_at", "completed_at")
    for job_type, started, completed in done.iterator():
        durations[job_type].append((completed - started).total_seconds())
    hours = max((now - since).total_seconds() / 3600, 1e-9)
    stats = []
    for job_type in sorted(set(per_type) | set(durations)):
        counts = per_type[job_type]
        finished = counts[JobStatus.COMPLETED] + counts[JobStatus.FAILED]
        values = durations[job_type]
        stats.append(
            {
                "job_type": job_type,
                "total": sum(counts.values()),
                "counts": counts,
                "completed_per_hour": len(values) / hours,
                "failure_rate": counts[JobStatus.FAILED] / finished if finished else None,
                "median": statistics.median(values) if values else None,
                "p95": percentile(values, 95),
            }
        )
    return stats


def queue_info() -> dict:
    """Queue depth and live workers from RQ; Redis being down is shown, not raised."""
    from jobs.queue import PROBE_TIMEOUT, get_queue, live_workers

    try:
        queue = get_queue(timeout=PROBE_TIMEOUT)
        workers = live_workers(queue)
        return {
            "ok": True,
            "depth": queue.count,
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


def stuck_jobs(now, limit: int = 50):
    """Processing jobs whose heartbeat is older than the rescue timeout."""
    before = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    return list(
        Job.objects.stale_processing(before)
        .select_related("owner")
        .order_by("heartbeat_at")[:limit]
    )


def cost_by_service_per_day(now, days: int = COST_DAYS) -> dict:
    """{days: [date...], services: [name...], totals: {(date, service): Decimal}}."""
    start = (now - timedelta(days=days - 1)).date()
    entries = CostEntry.objects.filter(created_at__date__gte=start)
    totals = {total.key: total.cost_usd for total in cost_totals(entries, ["day", "service"])}
    return {
        "days": [start + timedelta(days=i) for i in range(days)],
        # paid ones: free usage (edge, offline TTS) is in the usage table, not the cost chart
        "services": sorted({service for (_, service), cost in totals.items() if cost}),
        "totals": totals,
    }


def usage_by_service(now, days: int = COST_DAYS) -> list[dict]:
    """Per service over the last `days` days: calls, units per unit name, audio seconds and cost,
    free services (edge and offline TTS at $0) included."""
    start = (now - timedelta(days=days - 1)).date()
    entries = CostEntry.objects.filter(created_at__date__gte=start)
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


SVG_COLORS = ["#417690", "#e09f3e", "#9e2a2b", "#2a9d8f", "#6a4c93", "#8a9a5b"]


def cost_chart(data: dict, *, width: int = 700, height: int = 180) -> dict:
    """Geometry of a stacked bar chart (one bar per day, one colour per service) for inline SVG."""
    days, services, totals = data["days"], data["services"], data["totals"]
    day_totals = [sum((totals.get((d, s), 0) for s in services), Decimal(0)) for d in days]
    peak = max(day_totals, default=Decimal(0)) or Decimal(1)
    slot = width / max(len(days), 1)
    colors = {s: SVG_COLORS[i % len(SVG_COLORS)] for i, s in enumerate(services)}
    bars = []
    for i, day in enumerate(days):
        y = float(height)
        for service in services:
            value = totals.get((day, service), Decimal(0))
            if not value:
                continue
            h = float(value / peak) * height
            y -= h
            bars.append(
                {
                    "x": round(i * slot + 2, 1),
                    "y": round(y, 1),
                    "w": round(slot - 4, 1),
                    "h": round(h, 1),
                    "color": colors[service],
                    "title": f"{day} {service}: ${value:.4f}",
                }
            )
    labels = [
        {"x": round(i * slot + slot / 2, 1), "text": d.strftime("%m-%d")}
        for i, d in enumerate(days)
    ]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "labels": labels,
        "legend": [{"service": s, "color": c} for s, c in colors.items()],
        "peak": peak,
        "total": sum(day_totals, Decimal(0)),
    }


def spend_vs_budget(now) -> list[dict]:
    """This month's paid-API spend per user against their budget (UsageBudget row, else the
    EF_MONTHLY_BUDGET_USD default when configured)."""
    default = getattr(settings, "EF_MONTHLY_BUDGET_USD", None)
    month = CostEntry.objects.filter(created_at__gte=month_start(now), owner__isnull=False)
    spent = {total.key[0]: total.cost_usd for total in cost_totals(month, ["user"])}
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
    return rows


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


def dashboard_context(window: str = "24h", now=None) -> dict:
    now = now or timezone.now()
    window = window if window in WINDOWS else "24h"
    since = now - WINDOWS[window]
    return {
        "now": now,
        "window": window,
        "windows": list(WINDOWS),
        "status_rows": status_rows(now),
        "type_stats": type_stats(since, now),
        "queue": queue_info(),
        "stuck": stuck_jobs(now),
        "heartbeat_timeout": settings.JOB_HEARTBEAT_TIMEOUT,
        "cost_chart": cost_chart(cost_by_service_per_day(now)),
        "cost_days": COST_DAYS,
        "usage": usage_by_service(now),
        "budgets": spend_vs_budget(now),
        "month_start": month_start(now),
        "old_paths": old_path_usage(),
    }
