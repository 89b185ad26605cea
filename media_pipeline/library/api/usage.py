"""Library API: usage. The requesting user's API usage (paid and free: every TTS call is
recorded, edge and offline at $0), costs and monthly budget.

Money is USD as decimal strings (as in the jobs API's cost entries), 6 decimal places; units and
audio seconds are numbers. Days are UTC calendar days.
"""

from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from ninja import Field, Query, Router, Schema

from core.apierrors import ApiError
from jobs.budgets import budget_status
from jobs.cost_reports import user_costs, utc_day_start
from jobs.costs import CostTotal, cost_total, cost_totals, usage_totals
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


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _service_totals(costs: dict[str, CostTotal], qs) -> list[ServiceTotal]:
    """Each service's cost (given) with what it used (units, audio seconds) over `qs`."""
    usage = {u.key[0]: u for u in usage_totals(qs, ["service"])}
    return [
        ServiceTotal(
            service=service,
            cost_usd=t.cost_usd,
            entries=t.entries,
            units={name: _number(n) for name, n in sorted(usage[service].units.items())},
            audio_seconds=None
            if usage[service].audio_seconds is None
            else float(usage[service].audio_seconds),
        )
        for service, t in sorted(costs.items())
    ]


def _by_service(qs) -> list[ServiceTotal]:
    return _service_totals({t.key[0]: t for t in cost_totals(qs, ["service"])}, qs)


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
        created_at__gte=utc_day_start(start),
        created_at__lt=utc_day_start(end + timedelta(days=1)),
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
    summary = user_costs(request.auth)
    return CostsOut(
        total_usd=summary.total_usd,
        by_service=_service_totals(summary.by_service, costs),
        today_usd=summary.today_usd,
        range=_range(costs, filters.start, filters.end),
        job=_job(request, costs, filters.job_id),
    )


@router.get(
    "/usage",
    response={200: UsageOut, 401: ErrorOut},
    summary="Your spend this month (UTC) against your monthly budget",
)
def usage_month(request):
    status = budget_status(request.auth)
    month = CostEntry.objects.filter(owner=request.auth, created_at__gte=status.month_start)
    return UsageOut(
        month=status.month_start.strftime("%Y-%m"),
        spent_usd=status.spent_usd,
        reserved_usd=status.reserved_usd,
        limit_usd=status.limit_usd,
        hard=status.hard,
        remaining_usd=status.remaining_usd,
        by_service=_by_service(month),
    )
