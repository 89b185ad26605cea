"""Monthly budgets on paid APIs: spend from real cost rows, refusal at creation, 402 answers."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import RequestFactory

from editfactory.api import api as root_api
from jobs import services
from jobs.budgets import month_start, spent_this_month
from jobs.errors import BudgetExceeded
from jobs.models import CostEntry, Job, UsageBudget
from jobs.registry import get_job_type
from media_pipeline.jobtypes.tts import TtsParams, estimate_tts_cost
from media_pipeline.library.api.common import start_job
from tests.conftest import run_burst_worker

pytestmark = pytest.mark.django_db

RATE = Decimal("0.00022")  # settings' default ElevenLabs rate per character


@pytest.fixture(autouse=True)
def default_rates(settings):
    settings.COST_RATES = {**settings.COST_RATES, "elevenlabs.characters": float(RATE)}
    settings.MONTHLY_BUDGET_USD = ""


def _cost(user, usd, **fields):
    return CostEntry.objects.create(
        owner=user,
        service=fields.pop("service", "elevenlabs"),
        operation="tts",
        units=1,
        unit_name="characters",
        cost_usd=Decimal(usd),
        **fields,
    )


def _eleven(chars: int) -> dict:
    return {"text": "a" * chars, "provider": "elevenlabs"}


def test_spend_is_this_utc_month_and_this_user_only(user, other_user):
    _cost(user, "0.5")
    _cost(user, "0.25")
    _cost(user, "9", created_at=month_start() - timedelta(seconds=1))  # last month
    _cost(other_user, "7")
    assert spent_this_month(user) == Decimal("0.75")


def test_tts_estimate_is_characters_times_the_rate():
    assert estimate_tts_cost(TtsParams(**_eleven(1000))) == Decimal("0.22")
    assert estimate_tts_cost(TtsParams(text="hello", provider="edge")) == 0
    tts = get_job_type("tts")
    assert tts.estimated_cost(tts.parse_params(_eleven(10))) == Decimal("0.0022")
    assert get_job_type("noop").estimated_cost(None) == 0  # types without an estimator


def test_hard_budget_refuses_a_job_that_would_pass_it(user):
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("1.00"), hard=True)
    _cost(user, "0.90")
    with pytest.raises(BudgetExceeded) as err:
        services.job_create(job_type="tts", params=_eleven(1000), owner=user)  # 0.22
    message = str(err.value)
    assert "$0.900000" in message and "$0.220000" in message and "$1.00" in message
    assert Job.objects.count() == 0
    services.job_create(job_type="tts", params=_eleven(400), owner=user)  # 0.088: fits
    assert Job.objects.count() == 1


def test_a_zero_estimate_is_never_refused(user):
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("1.00"), hard=True)
    _cost(user, "5.00")  # already far over
    services.job_create(job_type="tts", params={"text": "hi", "provider": "edge"}, owner=user)
    services.job_create(job_type="noop", owner=user)
    assert Job.objects.count() == 2


def test_soft_budget_never_refuses(user):
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("1.00"), hard=False)
    _cost(user, "5.00")
    services.job_create(job_type="tts", params=_eleven(1000), owner=user)
    assert Job.objects.count() == 1


def test_default_budget_setting_applies_without_a_row(settings, user, other_user):
    settings.MONTHLY_BUDGET_USD = "0.10"
    with pytest.raises(BudgetExceeded):
        services.job_create(job_type="tts", params=_eleven(1000), owner=user)
    UsageBudget.objects.create(user=other_user, monthly_limit_usd=Decimal("5"), hard=True)
    services.job_create(job_type="tts", params=_eleven(1000), owner=other_user)  # own row wins
    settings.MONTHLY_BUDGET_USD = ""  # unlimited
    services.job_create(job_type="tts", params=_eleven(1000), owner=user)


def test_start_job_refusal_is_a_402_with_the_error_shape(user):
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("0.05"), hard=True)
    request = RequestFactory().post("/api/v1/library/tts")
    request.auth = user
    with pytest.raises(BudgetExceeded) as err:
        start_job(request, "tts", params=_eleven(1000))
    response = root_api.on_exception(request, err.value)  # the API's own error mapping
    assert response.status_code == 402
    error = json.loads(response.content)["error"]
    assert error["code"] == "budget_exceeded"
    assert error["details"] == [
        {"spent_usd": "0.000000", "estimate_usd": "0.220000", "limit_usd": "0.05"}
    ]


def test_retry_endpoint_is_budgeted_too(api, user):
    job = services.job_create(job_type="tts", params=_eleven(1000), owner=user)
    services.job_fail(job_id=job.id, message="provider down")
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("0.10"), hard=True)
    response = api.post(f"/api/v1/jobs/{job.id}/retry")
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"
    job.refresh_from_db()
    assert job.status == "failed"


# --- reservations -----------------------------------------------------------------------------
def test_a_queued_jobs_estimate_is_reserved_and_counted(user):
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("0.25"), hard=True)
    first = services.job_create(job_type="test_paid", params={"estimate": "0.10"}, owner=user)
    services.job_create(job_type="test_paid", params={"estimate": "0.10"}, owner=user)
    first.refresh_from_db()
    assert first.reserved_usd == Decimal("0.10")
    # Nothing is spent yet, but 0.20 is reserved: a third job of 0.10 would pass the limit.
    with pytest.raises(BudgetExceeded, match=r"\$0\.200000 is reserved"):
        services.job_create(job_type="test_paid", params={"estimate": "0.10"}, owner=user)
    assert Job.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_recorded_costs_settle_the_reservation_and_the_end_releases_it(user):
    job = services.job_create(
        job_type="test_paid", params={"estimate": "0.30", "spend": "0.12"}, owner=user
    )
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == "completed" and job.reserved_usd == 0
    assert spent_this_month(user) == Decimal("0.12")  # the real cost, not the estimate
    cancelled = services.job_create(job_type="test_paid", params={"estimate": "0.30"}, owner=user)
    services.job_cancel(job=cancelled)
    cancelled.refresh_from_db()
    assert cancelled.reserved_usd == 0  # released


def test_a_cost_lowers_the_reservation_of_the_running_job(user):
    job = services.job_create(job_type="test_paid", params={"estimate": "0.30"}, owner=user)
    services.cost_record(
        job_id=job.id, owner_id=user.pk, service="testapi", operation="call", units=1,
        unit_name="calls", cost_usd="0.10",
    )  # fmt: skip
    job.refresh_from_db()
    assert job.reserved_usd == Decimal("0.20")
    services.cost_record(
        job_id=job.id, owner_id=user.pk, service="testapi", operation="call", units=1,
        unit_name="calls", cost_usd="0.50",
    )  # fmt: skip
    job.refresh_from_db()
    assert job.reserved_usd == 0  # never below zero


def test_a_retry_reserves_again(user):
    job = services.job_create(job_type="test_paid", params={"estimate": "0.10"}, owner=user)
    services.job_fail(job_id=job.id, message="boom")
    job.refresh_from_db()
    assert job.reserved_usd == 0
    services.job_retry(job=job)
    job.refresh_from_db()
    assert job.reserved_usd == Decimal("0.10")


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_cannot_pass_the_limit_together(django_user_model):
    """Twelve paid starts at once against a limit that holds five: exactly five pass (the check
    and the reservation are one transaction, serialised per user)."""
    owner = django_user_model.objects.create_user("spender", "s@example.com", "pw-spender-1")
    UsageBudget.objects.create(user=owner, monthly_limit_usd=Decimal("0.50"), hard=True)
    results: list[str] = []
    barrier = threading.Barrier(12)

    def start() -> None:
        barrier.wait(timeout=30)
        try:
            services.job_create(job_type="test_paid", params={"estimate": "0.10"}, owner=owner)
            results.append("created")
        except BudgetExceeded:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["created"] * 5 + ["refused"] * 7
    assert Job.objects.filter(owner=owner).count() == 5
