"""The Usage page (contract 4.4, 5.14-5.16): the user's paid-API costs, the services' quotas and
whether Gemini answers. Everything is the requesting user's own: another user's costs never show.

Mapping rules (answers <- the services the v1 usage endpoints use):
- GET /costs: `jobs.cost_reports.user_costs` (exact totals per service, all time and today in
  UTC) as JSON numbers; `totals` and `today` always name elevenlabs and gemini (0 when unused)
  besides any other service; `last_entries` the 10 newest entries. `source` is "database".
- GET /costs/all: `{entries}` newest first, at most COSTS_ALL_LIMIT of them (`entry_count` says
  how many there are, `truncated` whether some were left out).
- CostEntry: `estimated_cost` <- cost_usd, `units`, `created_at`; `job_id` is "" for an entry
  that belongs to no job (an imported one, or its job was deleted).
- GET /usage: `elevenlabs` is the ElevenLabs account's character quota (asked within
  EF_PROVIDER_CHECK_TIMEOUT; the account is the server's, shared by its users), null with the
  reason in `errors` when there is no key or no answer; `gemini` says whether it is configured
  and its rates (Gemini has no quota API); `budget` is the user's month against their budget
  (`jobs.budgets.budget_status`, as GET /api/v1/library/usage).
- GET /gemini/status: not configured -> says so without a request; configured -> one bounded
  request describing the model (free: nothing is generated) that shows the key works.
"""

from datetime import datetime

from django.conf import settings
from ninja import Router, Schema

from core.deprecation import old_path
from jobs.budgets import budget_status
from jobs.cost_reports import user_costs
from jobs.models import CostEntry
from jobs.schemas import ErrorOut
from media_pipeline.frontend.api import PREFIX
from media_pipeline.ops import gemini
from media_pipeline.ops.tts.base import TtsError

router = Router(tags=["frontend: usage"])
V1 = "/api/v1/library/usage"
ERRORS = {401: ErrorOut}
SERVICES = ("elevenlabs", "gemini")  # always in `totals` and `today` (the page reads both)
LAST_ENTRIES = 10
COSTS_ALL_LIMIT = 1000
GEMINI_BALANCE_URL = "https://aistudio.google.com/usage"
GEMINI_BILLING_URL = "https://console.cloud.google.com/billing"


def _route(method: str, path: str, successor: str, **extra) -> dict:
    return old_path(method, PREFIX + path, successor, **extra)


class CostEntryOut(Schema):
    id: str
    job_id: str
    service: str
    operation: str
    units: float
    unit_name: str
    estimated_cost: float
    details: dict
    created_at: datetime


class CostSummary(Schema):
    source: str
    totals: dict[str, float]
    total_all: float
    today: dict[str, float]
    entry_count: int
    last_entries: list[CostEntryOut]


class CostEntries(Schema):
    entries: list[CostEntryOut]
    entry_count: int
    truncated: bool


class ElevenLabsUsage(Schema):
    characters_used: int
    characters_limit: int
    characters_remaining: int
    usage_percent: float
    tier: str
    next_reset_unix: int | None
    estimated_cost_usd: float


class GeminiUsage(Schema):
    configured: bool
    model: str
    note: str
    cost_per_frame_usd: float
    cost_per_request_usd: float


class BudgetOut(Schema):
    month: str
    spent_usd: float
    reserved_usd: float
    limit_usd: float | None
    remaining_usd: float | None
    hard: bool


class Usage(Schema):
    elevenlabs: ElevenLabsUsage | None
    gemini: GeminiUsage
    budget: BudgetOut
    errors: list[str]


class GeminiStatus(Schema):
    configured: bool
    connected: bool
    model: str | None
    error: str | None
    test_response: str | None
    balance_url: str
    billing_url: str


def _entry(row: CostEntry) -> CostEntryOut:
    return CostEntryOut(
        id=str(row.id),
        job_id=str(row.job_id) if row.job_id else "",
        service=row.service,
        operation=row.operation,
        units=float(row.units),
        unit_name=row.unit_name,
        estimated_cost=float(row.cost_usd),
        details=row.details or {},
        created_at=row.created_at,
    )


def _newest(user):
    return CostEntry.objects.filter(owner=user).order_by("-created_at", "-id")


def _per_service(amounts: dict) -> dict[str, float]:
    return {service: 0.0 for service in SERVICES} | {k: float(v) for k, v in amounts.items()}


@router.get(
    "/costs",
    response={200: CostSummary, **ERRORS},
    summary="Your paid-API costs: per service, today (UTC), and the 10 newest entries",
    **_route("GET", "/costs", f"GET {V1}/costs"),
)
def costs(request):
    summary = user_costs(request.auth)
    return CostSummary(
        source="database",
        totals=_per_service({s: t.cost_usd for s, t in summary.by_service.items()}),
        total_all=float(summary.total_usd),
        today=_per_service(summary.today_by_service),
        entry_count=summary.entries,
        last_entries=[_entry(row) for row in _newest(request.auth)[:LAST_ENTRIES]],
    )


@router.get(
    "/costs/all",
    response={200: CostEntries, **ERRORS},
    summary=f"Your cost entries, newest first (at most {COSTS_ALL_LIMIT})",
    **_route(
        "GET",
        "/costs/all",
        f"GET {V1}/costs",
        note="The entries of one job: GET /api/v1/jobs/{job_id} (`costs`).",
    ),
)
def costs_all(request):
    newest = _newest(request.auth)
    rows = list(newest[: COSTS_ALL_LIMIT + 1])
    count = newest.count() if len(rows) > COSTS_ALL_LIMIT else len(rows)
    return CostEntries(
        entries=[_entry(row) for row in rows[:COSTS_ALL_LIMIT]],
        entry_count=count,
        truncated=count > COSTS_ALL_LIMIT,
    )


def _elevenlabs(errors: list[str]) -> ElevenLabsUsage | None:
    if not settings.ELEVENLABS_API_KEY:
        errors.append("ElevenLabs API key not configured (ELEVENLABS_API_KEY is empty)")
        return None
    # imported here: the API's URLs load this page in every process (workers too, by the URL
    # checks) and the ElevenLabs client brings httpx
    from media_pipeline.ops.tts.elevenlabs import ElevenLabsProvider

    try:
        sub = ElevenLabsProvider().subscription(timeout=settings.PROVIDER_CHECK_TIMEOUT)
    except TtsError as exc:
        errors.append(f"ElevenLabs usage could not be read: {exc}")
        return None
    limit = sub.characters_limit
    return ElevenLabsUsage(
        characters_used=sub.characters_used,
        characters_limit=limit,
        characters_remaining=max(limit - sub.characters_used, 0),
        usage_percent=round(min(100.0, 100.0 * sub.characters_used / limit), 1) if limit else 0.0,
        tier=sub.tier,
        next_reset_unix=sub.next_reset_unix,
        estimated_cost_usd=round(
            sub.characters_used * settings.COST_RATES["elevenlabs.characters"], 4
        ),
    )


@router.get(
    "/usage",
    response={200: Usage, **ERRORS},
    summary="ElevenLabs' character quota, Gemini's configuration and your month's budget",
    **_route("GET", "/usage", f"GET {V1}"),
)
def usage(request):
    errors: list[str] = []
    elevenlabs = _elevenlabs(errors)
    status = budget_status(request.auth)
    return Usage(
        elevenlabs=elevenlabs,
        gemini=GeminiUsage(
            configured=bool(settings.GEMINI_API_KEY),
            model=settings.GEMINI_MODEL,
            note="Gemini has no usage API: its costs are estimated from the frames sent "
            "(see the costs above).",
            cost_per_frame_usd=settings.COST_RATES["gemini.frames"],
            cost_per_request_usd=settings.COST_RATES["gemini.requests"],
        ),
        budget=BudgetOut(
            month=status.month_start.strftime("%Y-%m"),
            spent_usd=float(status.spent_usd),
            reserved_usd=float(status.reserved_usd),
            limit_usd=float(status.limit_usd) if status.limit_usd is not None else None,
            remaining_usd=float(status.remaining_usd) if status.remaining_usd is not None else None,
            hard=status.hard,
        ),
        errors=errors,
    )


@router.get(
    "/gemini/status",
    response={200: GeminiStatus, **ERRORS},
    summary="Whether Gemini is configured and its key can use the model (one bounded check)",
    **_route("GET", "/gemini/status", ""),
)
def gemini_status(request):
    status = {
        "configured": bool(settings.GEMINI_API_KEY),
        "connected": False,
        "model": settings.GEMINI_MODEL or None,
        "error": None,
        "test_response": None,
        "balance_url": GEMINI_BALANCE_URL,
        "billing_url": GEMINI_BILLING_URL,
    }
    if not settings.GEMINI_API_KEY:
        error = "Gemini is not configured (GEMINI_API_KEY is empty)"
        return GeminiStatus(**status | {"error": error})
    import httpx  # see _elevenlabs

    try:
        with httpx.Client() as client:
            name = gemini.model_check(
                client, gemini.GeminiConfig.from_settings(), timeout=settings.PROVIDER_CHECK_TIMEOUT
            )
    except gemini.GeminiError as exc:
        return GeminiStatus(**status | {"error": str(exc)})
    return GeminiStatus(
        **status | {"connected": True, "test_response": f"{name} is available to this key"}
    )
