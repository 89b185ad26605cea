"""GET /api/v1/library/usage and /usage/costs over HTTP, on real cost rows."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs import services
from jobs.budgets import month_start
from jobs.models import CostEntry, UsageBudget

pytestmark = pytest.mark.django_db

COSTS = "/api/v1/library/usage/costs"
USAGE = "/api/v1/library/usage"


def _cost(user, usd, service="elevenlabs", at=None, job=None):
    return CostEntry.objects.create(
        owner=user,
        job=job,
        service=service,
        operation="op",
        units=1,
        unit_name="characters" if service == "elevenlabs" else "frames",
        cost_usd=Decimal(usd),
        created_at=at or timezone.now(),
    )


def _day(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


@pytest.fixture
def spend(user, other_user):
    _cost(user, "0.5")  # today
    _cost(user, "0.25", service="gemini")  # today
    _cost(user, "1", at=_day(2024, 3, 1, 0))  # first second of the range's first day
    _cost(user, "2", at=_day(2024, 3, 31, 23))  # last hour of its last day
    _cost(user, "4", at=_day(2024, 4, 1, 0))  # the next day: outside
    _cost(user, "8", service="gemini", at=_day(2024, 2, 29, 23))  # the day before: outside
    _cost(other_user, "100")  # never shown to `user`


def test_costs_by_service_today_and_range(api, spend):
    body = api.get(COSTS, {"start": "2024-03-01", "end": "2024-03-31"}).json()
    assert body["total_usd"] == "15.750000"
    assert body["by_service"] == [
        {
            "service": "elevenlabs",
            "cost_usd": "7.500000",
            "entries": 4,
            "units": {"characters": 4},
            "audio_seconds": None,
        },
        {
            "service": "gemini",
            "cost_usd": "8.250000",
            "entries": 2,
            "units": {"frames": 2},
            "audio_seconds": None,
        },
    ]
    assert body["today_usd"] == "0.750000"
    assert body["range"] == {"start": "2024-03-01", "end": "2024-03-31", "cost_usd": "3.000000"}
    assert body["job"] is None
    one_day = api.get(COSTS, {"start": "2024-03-31", "end": "2024-03-31"}).json()
    assert one_day["range"]["cost_usd"] == "2.000000"  # end is inclusive


def test_bad_ranges_are_422(api, spend):
    for query in (
        {"start": "2024-03-02", "end": "2024-03-01"},
        {"start": "2024-03-01"},
        {"start": "yesterday", "end": "2024-03-01"},
    ):
        response = api.get(COSTS, query)
        assert response.status_code == 422, query
        assert response.json()["error"]["code"] == "validation_error"


def test_costs_of_one_job_and_someone_elses_is_404(api, other_api, user, other_user):
    job = services.job_create(job_type="noop", owner=user)
    _cost(user, "0.1", job=job)
    _cost(user, "0.2", service="gemini", job=job)
    _cost(user, "5")  # not this job
    body = api.get(COSTS, {"job_id": str(job.id)}).json()
    assert body["job"]["job_id"] == str(job.id) and body["job"]["cost_usd"] == "0.300000"
    assert [e["service"] for e in body["job"]["entries"]] == ["elevenlabs", "gemini"]
    assert other_api.get(COSTS, {"job_id": str(job.id)}).status_code == 404


def test_month_usage_against_a_budget(api, user):
    _cost(user, "0.4")
    _cost(user, "0.35", service="gemini")
    _cost(user, "50", at=month_start() - timedelta(seconds=1))  # last month
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("1.00"), hard=False)
    body = api.get(USAGE).json()
    assert body["month"] == timezone.now().astimezone(UTC).strftime("%Y-%m")
    assert (body["spent_usd"], body["limit_usd"], body["remaining_usd"]) == (
        "0.750000",
        "1.000000",
        "0.250000",
    )
    assert body["hard"] is False
    assert [s["service"] for s in body["by_service"]] == ["elevenlabs", "gemini"]


def test_month_usage_default_and_unlimited(settings, api, user):
    _cost(user, "3")
    settings.MONTHLY_BUDGET_USD = ""
    body = api.get(USAGE).json()
    assert (body["limit_usd"], body["remaining_usd"], body["hard"]) == (None, None, True)
    settings.MONTHLY_BUDGET_USD = "2.5"
    body = api.get(USAGE).json()
    assert (body["spent_usd"], body["limit_usd"], body["remaining_usd"]) == (
        "3.000000",
        "2.500000",
        "0.000000",  # over the limit: nothing remains
    )


def test_usage_needs_authentication(client):
    assert client.get(USAGE).status_code == 401
    assert client.get(COSTS).status_code == 401


def test_usage_per_service_sums_units_per_unit_and_audio_seconds(api, user):
    """Free TTS is usage too: characters and audio seconds summed exactly, next to $0."""
    for units, seconds in ((120, "7.25"), (30, "1.105")):
        CostEntry.objects.create(
            owner=user, service="edge", operation="tts", units=units, unit_name="characters",
            audio_seconds=Decimal(seconds), cost_usd=Decimal(0),
        )  # fmt: skip
    CostEntry.objects.create(
        owner=user, service="gemini", operation="analyze", units=Decimal("2.5"),
        unit_name="frames", cost_usd=Decimal("0.05"),
    )  # fmt: skip
    CostEntry.objects.create(
        owner=user, service="gemini", operation="analyze", units=1, unit_name="requests",
        cost_usd=Decimal("0.01"),
    )  # fmt: skip
    body = api.get(COSTS).json()
    assert body["by_service"] == [
        {
            "service": "edge",
            "cost_usd": "0.000000",
            "entries": 2,
            "units": {"characters": 150},
            "audio_seconds": 8.355,
        },
        {
            "service": "gemini",
            "cost_usd": "0.060000",
            "entries": 2,
            "units": {"frames": 2.5, "requests": 1},
            "audio_seconds": None,
        },
    ]
    month = api.get(USAGE).json()
    assert month["by_service"] == body["by_service"]
