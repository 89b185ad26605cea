"""Library API: usage. The requesting user's API usage (paid and free: every TTS call is
recorded, edge and offline at $0), costs and monthly budget.

Money is USD as decimal strings (as in the jobs API's cost entries), 6 decimal places; units and
audio seconds are numbers. Days are UTC calendar days.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from core.apierrors import ApiError
from jobs.budgets import budget_for, month_start, reserved_by_active_jobs
from jobs.costs import cost_total, cost_totals, money, usage_totals
from jobs.models import CostEntry, Job
from jobs.schemas import CostOut, ErrorOut
from media_pipeline.library.api.common import ERRORS, owned

router = Router(tags=["usage"])


class ServiceTotal(Schema):
    service: str = Field(description="elevenlabs, edge, offline (TTS), gemini...")
    cost_usd: Decimal
    entries: int = Field(description="calls recorded")
    units: dict[str, int | float] = Field(
        description="what was used, per unit: {'characters': 1234} for TTS, {'frames': 40}..."
    )
    audio_seconds: float | None = Field(
        description="seconds of audio produced (TTS); null when the service produces none"
    )


class RangeTotal(Schema):
    start: date
    end: date
    cost_usd: Decimal


class JobCosts(Schema):
    job_id: UUID
    cost_usd: Decimal
    entries: list[CostOut]


class CostsOut(Schema):
    total_usd: Decimal
    by_service: list[ServiceTotal]
    today_usd: Decimal
    range: RangeTotal | None
    job: JobCosts | None


class UsageOut(Schema):
    month: str
    spent_usd: Decimal
    reserved_usd: Decimal = Field(description="estimates held by your queued and running jobs")
    limit_usd: Decimal | None
    hard: bool
    remaining_usd: Decimal | None
    by_service: list[ServiceTotal]


class CostFilters(Schema):
    start: date | None = None
    end: date | None = None
    job_id: UUID | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _by_service(qs) -> list[ServiceTotal]:
    usage = {u.key: u for u in usage_totals(qs, ["service"])}
    totals = []
    for t in sorted(cost_totals(qs, ["service"]), key=lambda t: t.key):
        used = usage[t.key]
        totals.append(
            ServiceTotal(
                service=t.key[0],
                cost_usd=t.cost_usd,
                entries=t.entries,
                units={name: _number(n) for name, n in sorted(used.units.items())},
                audio_seconds=None if used.audio_seconds is None else float(used.audio_seconds),
            )
        )
    return totals


def _range(costs, start: date | None, end: date | None) -> RangeTotal | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ApiError(
            422,
            "validation_error",
            "give both 'start' and 'end' (YYYY-MM-DD) for a date range",
            [{"field": "start"}, {"field": "end"}],
        )
    if start > end:
        raise ApiError(
            422,
            "validation_error",
            f"'start' ({start}) is after 'end' ({end})",
            [{"field": "start"}, {"field": "end"}],
        )
    within = costs.filter(
        created_at__gte=_day_start(start), created_at__lt=_day_start(end + timedelta(days=1))
    )
    return RangeTotal(start=start, end=end, cost_usd=cost_total(within))


def _job(request, costs, job_id: UUID | None) -> JobCosts | None:
    if job_id is None:
        return None
    job = owned(Job.objects, request.auth, id=job_id)  # someone else's job is a 404
    entries = costs.filter(job=job).order_by("created_at", "id")
    return JobCosts(
        job_id=job.id,
        cost_usd=cost_total(entries),
        entries=[CostOut.from_orm(e) for e in entries],
    )


@router.get(
    "/usage/costs",
    response={200: CostsOut, **ERRORS},
    summary="Your API usage and costs: by service (all time), today, a date range, one job",
    description="Every TTS call is an entry under the provider that spoke (elevenlabs, edge, "
    "offline) with its characters and audio seconds; edge and offline cost $0.",
)
def usage_costs(request, filters: Query[CostFilters]):
    costs = CostEntry.objects.filter(owner=request.auth)
    today = _day_start(timezone.now().astimezone(UTC).date())
    return CostsOut(
        total_usd=cost_total(costs),
        by_service=_by_service(costs),
        today_usd=cost_total(costs.filter(created_at__gte=today)),
        range=_range(costs, filters.start, filters.end),
        job=_job(request, costs, filters.job_id),
    )


@router.get(
    "/usage",
    response={200: UsageOut, 401: ErrorOut},
    summary="Your spend this month (UTC) against your monthly budget",
)
def usage_month(request):
    start = month_start()
    month = CostEntry.objects.filter(owner=request.auth, created_at__gte=start)
    spent = cost_total(month)
    reserved = reserved_by_active_jobs(request.auth)
    budget = budget_for(request.auth)
    limit = budget.limit_usd
    return UsageOut(
        month=start.strftime("%Y-%m"),
        spent_usd=spent,
        reserved_usd=reserved,
        limit_usd=money(limit) if limit is not None else None,
        hard=budget.hard,
        remaining_usd=money(max(limit - spent - reserved, Decimal(0)))
        if limit is not None
        else None,
        by_service=_by_service(month),
    )
