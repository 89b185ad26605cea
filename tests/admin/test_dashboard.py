"""The operator dashboard: counts, per-type throughput/failure/percentiles, queue and workers,
stuck jobs, the cost chart and spend against budget."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import queue
from jobs.dashboard import percentile
from jobs.models import CostEntry, Job, UsageBudget
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db


def test_percentile_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0


def completed(user, job_type, seconds, *, ago=timedelta(hours=1)):
    end = timezone.now() - ago
    return Job.objects.create(
        job_type=job_type, owner=user, status=JobStatus.COMPLETED, progress=100,
        created_at=end - timedelta(seconds=seconds + 1),
        started_at=end - timedelta(seconds=seconds), completed_at=end,
    )  # fmt: skip


def test_dashboard_numbers(
    staff_client, user, other_user, settings, django_capture_on_commit_callbacks
):
    settings.EF_MONTHLY_BUDGET_USD = 10
    for seconds in range(1, 21):  # median 10.5 s, p95 19 s
        completed(user, "render_clip", seconds)
    Job.objects.create(job_type="render_clip", owner=user, status=JobStatus.FAILED)
    Job.objects.create(job_type="render_clip", owner=user, status=JobStatus.FAILED)
    completed(user, "probe", 2)
    completed(user, "probe", 4, ago=timedelta(days=3))  # in 7 days, not in 24 h
    stuck = Job.objects.create(
        job_type="tts", owner=user, status=JobStatus.PROCESSING, attempts=1,
        started_at=timezone.now() - timedelta(minutes=9),
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    queued = Job.objects.create(job_type="probe", owner=user)
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        queue.enqueue(queued.pk, timeout=60)
    CostEntry.objects.create(
        owner=user, service="gemini", operation="analyze", units=10, unit_name="frames",
        cost_usd=Decimal("4.000000"),
    )  # fmt: skip
    CostEntry.objects.create(
        owner=other_user, service="elevenlabs", operation="tts", units=1000,
        unit_name="characters", cost_usd=Decimal("3.000000"),
        created_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    UsageBudget.objects.create(user=other_user, monthly_limit_usd=Decimal("2.00"), hard=True)

    response = staff_client.get(reverse("ef_dashboard"))
    assert response.status_code == 200
    ctx = response.context
    rows = {r["status"]: r for r in ctx["status_rows"]}
    assert rows["completed"]["day"] == 21 and rows["completed"]["week"] == 22
    assert rows["failed"]["day"] == 2 and rows["processing"]["day"] == 1
    stats = {t["job_type"]: t for t in ctx["type_stats"]}
    render = stats["render_clip"]
    assert render["median"] == pytest.approx(10.5) and render["p95"] == pytest.approx(19)
    assert render["failure_rate"] == pytest.approx(2 / 22)
    assert render["completed_per_hour"] == pytest.approx(20 / 24)
    assert stats["probe"]["counts"]["completed"] == 1  # the 3-day-old one is outside 24 h
    week = staff_client.get(reverse("ef_dashboard"), {"window": "7d"}).context["type_stats"]
    assert {t["job_type"]: t for t in week}["probe"]["counts"]["completed"] == 2
    assert ctx["queue"]["ok"] and ctx["queue"]["depth"] == 1
    assert [j.pk for j in ctx["stuck"]] == [stuck.pk]
    budgets = {b["username"]: b for b in ctx["budgets"]}
    # the month may have started less than 2 days ago: bob's entry is then last month's
    month_start = ctx["month_start"]
    bob_spent = Decimal("3") if timezone.now() - timedelta(days=2) >= month_start else Decimal(0)
    assert budgets["alice"]["spent"] == Decimal("4") and budgets["alice"]["limit"] == Decimal("10")
    assert budgets["alice"]["percent"] == pytest.approx(40)
    assert budgets["bob"]["limit"] == Decimal("2.00") and budgets["bob"]["spent"] == bob_spent
    chart = ctx["cost_chart"]
    assert {item["service"] for item in chart["legend"]} == {"gemini", "elevenlabs"}
    assert len(chart["bars"]) == 2 and max(b["h"] for b in chart["bars"]) == chart["height"]
    html = response.content.decode()
    assert html.count('class="ef-cost-bar"') == 2 and 'id="ef-rq-link"' in html
    assert str(stuck.pk) in html and 'href="/admin/rq/"' in html
    assert "10.5 s" in html and "19.0 s" in html and "40%" in html


def test_dashboard_without_data_or_budget_setting(staff_client, settings):
    if hasattr(settings, "EF_MONTHLY_BUDGET_USD"):
        del settings.EF_MONTHLY_BUDGET_USD
    response = staff_client.get(reverse("ef_dashboard"), {"window": "bogus"})
    assert response.status_code == 200 and response.context["window"] == "24h"
    html = response.content.decode()
    assert "No jobs in this window." in html and "No paid-API usage" in html
    assert "No spend this month and no budgets set." in html
