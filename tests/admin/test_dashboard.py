"""The operator dashboard: all-time and windowed figures (imported history included), the
throughput and cost charts with their axes, spend against budget with spend without an owner,
and totals that agree across panels. Most figures are read at a fixed `now` with rows dated
around it, so windows and month boundaries are exact."""

import random
import re
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.leases import MAINTENANCE_LEASE, lease_acquire
from jobs import queue
from jobs.dashboard import dashboard_context, duration_stats, percentile
from jobs.dashboard_charts import nice_top
from jobs.models import CostEntry, Job, UsageBudget
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 15, 12, 34, 56, tzinfo=UTC)


def job(owner, status, *, ended=None, created=None, run=None, job_type="render_clip", **extra):
    """A job that ended `ended` before NOW (None: it has no end time), created `created` before
    NOW (default: just before it ended), with a run of `run` seconds."""
    completed = NOW - ended if ended is not None else None
    created_at = NOW - created if created is not None else (completed or NOW) - timedelta(hours=1)
    started = completed - timedelta(seconds=run) if run is not None and completed else None
    return Job.objects.create(
        job_type=job_type, owner=owner, status=status, created_at=created_at,
        started_at=started, completed_at=completed, **extra,
    )  # fmt: skip


def cost(owner, usd, ago, service="gemini"):
    return CostEntry.objects.create(
        owner=owner, service=service, operation="op", units=1, unit_name="requests",
        cost_usd=Decimal(usd), created_at=NOW - ago,
    )  # fmt: skip


@pytest.fixture
def history(user, other_user):
    """Imported history (old dates, some without an end time), recent jobs at known times."""
    minutes, hours, days = (
        (lambda n: timedelta(minutes=n)),
        (lambda n: timedelta(hours=n)),
        (lambda n: timedelta(days=n)),
    )
    rows = {
        # imported from the prototype: months old; two failures have no end time at all
        "imported_done": [
            job(None, JobStatus.COMPLETED, ended=days(400), run=30, imported=True) for _ in range(5)
        ],
        "imported_failed": [
            job(user, JobStatus.FAILED, created=days(300), imported=True, error="interrupted")
            for _ in range(2)
        ],
        # in the last hour (minute buckets): 3 completed 10 min ago, 1 failed 30 min ago
        "done_10m": [job(user, JobStatus.COMPLETED, ended=minutes(10), run=r) for r in (1, 2, 3)],
        "failed_30m": [job(user, JobStatus.FAILED, ended=minutes(30), error="boom")],
        # created two days ago, ended 20 minutes ago: in the hour by its end, not its creation
        "slow_20m": [
            job(
                other_user,
                JobStatus.COMPLETED,
                ended=minutes(20),
                created=days(2),
                run=4,
                job_type="probe",
            )
        ],  # fmt: skip
        "cancelled_2m": [job(user, JobStatus.CANCELLED, ended=minutes(2), job_type="probe")],
        # in 24 h, not in the hour
        "done_5h": [job(user, JobStatus.COMPLETED, ended=hours(5), run=6) for _ in range(2)],
        # in 7 days only
        "failed_3d": [job(other_user, JobStatus.FAILED, ended=days(3), job_type="probe")],
        # now
        "queued": [job(user, JobStatus.QUEUED, created=minutes(1))],
        "processing": [job(user, JobStatus.PROCESSING, created=minutes(3), job_type="probe")],
    }
    return rows


def figures(window: str) -> dict:
    return dashboard_context(window, now=NOW)


# --- status figures -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "window, completed, failed, cancelled, created",
    [
        # ended in the window; created counts creation times (the slow job is 2 days old)
        ("1h", 4, 1, 1, 2),  # queued 1 min, processing 3 min ago
        ("24h", 6, 1, 1, 2 + 3 + 1 + 1 + 2),  # + done_10m, failed_30m, cancelled, done_5h
        ("7d", 6, 2, 1, 2 + 3 + 1 + 1 + 2 + 1 + 1),  # + slow_20m and failed_3d
    ],
)
def test_windowed_and_all_time_figures_include_imported_jobs(
    history, window, completed, failed, cancelled, created
):
    ctx = figures(window)
    rows = {r["status"]: r for r in ctx["status"]["rows"]}
    assert (rows["completed"]["window"], rows["failed"]["window"]) == (completed, failed)
    assert rows["cancelled"]["window"] == cancelled
    assert rows["queued"]["window"] is None and rows["processing"]["window"] is None  # now
    assert ctx["status"]["created"] == created
    assert ctx["status"]["ended"] == completed + failed + cancelled
    # All time, whatever the window: every row, imported ones included.
    assert rows["completed"]["all_time"] == 5 + 3 + 1 + 2
    assert rows["failed"]["all_time"] == 2 + 1 + 1
    assert (rows["queued"]["all_time"], rows["processing"]["all_time"]) == (1, 1)
    assert ctx["status"]["all_time"] == Job.objects.count() == 18
    assert ctx["status"]["imported"] == 7


def test_the_window_starts_on_a_bucket_boundary():
    assert figures("1h")["since"] == datetime(2025, 3, 15, 11, 35, tzinfo=UTC)
    assert figures("24h")["since"] == datetime(2025, 3, 14, 12, 35, tzinfo=UTC)
    assert figures("7d")["since"] == datetime(2025, 3, 8, 13, 0, tzinfo=UTC)


# --- the throughput chart -----------------------------------------------------------------------
def bar_sums(chart) -> dict[str, int]:
    sums = {}
    for bar in chart["bars"]:
        sums[bar["series"]] = sums.get(bar["series"], 0) + bar["value"]
    return sums


@pytest.mark.parametrize("window, buckets", [("1h", 60), ("24h", 1440), ("7d", 168)])
def test_throughput_chart_per_minute_or_hour_agrees_with_the_counts(history, window, buckets):
    ctx = figures(window)
    chart = ctx["throughput"]
    assert chart["unit"] == ("hour" if window == "7d" else "minute")
    rows = {r["status"]: r for r in ctx["status"]["rows"]}
    # The bars add up to the windowed counts, and so does the per-type table.
    assert bar_sums(chart) == {
        k: v
        for k, v in {
            "completed": rows["completed"]["window"],
            "failed": rows["failed"]["window"],
        }.items()
        if v
    }
    assert chart["totals"] == {
        "completed": rows["completed"]["window"],
        "failed": rows["failed"]["window"],
    }
    for status in ("completed", "failed", "cancelled"):
        assert sum(t["counts"][status] for t in ctx["type_stats"]) == rows[status]["window"]
    assert sum(t["all_time"] for t in ctx["type_stats"]) == ctx["status"]["all_time"]
    # One slot per bucket: the bars' x positions fall in the plot.
    plot = chart["plot"]
    slot = (plot["right"] - plot["left"]) / buckets
    assert all(plot["left"] <= b["x"] < plot["right"] for b in chart["bars"])
    if window == "1h":  # 3 completed 10 minutes ago: bucket 12:24, the 50th of 60 (11:35...)
        (bar,) = [b for b in chart["bars"] if b["value"] == 3]
        assert int((bar["x"] - plot["left"]) / slot) == 49
        assert bar["title"] == "2025-03-15 12:24 completed: 3"


def test_charts_have_labelled_axes_and_headroom(history):
    chart = figures("1h")["throughput"]
    plot = chart["plot"]
    tallest = min(b["y"] for b in chart["bars"])
    assert tallest > plot["top"]  # headroom: the tallest bar stays below the top
    assert chart["peak"] == 3 and chart["top"] == 5  # 3 x 1.1 -> 5
    assert [t["text"] for t in chart["y_ticks"]] == ["0", "1", "2", "3", "4", "5"]
    assert [t["text"] for t in chart["x_ticks"]] == [
        "11:40",
        "11:50",
        "12:00",
        "12:10",
        "12:20",
        "12:30",
    ]
    week = figures("7d")["throughput"]
    assert [t["text"] for t in week["x_ticks"]] == [f"03-{d:02d}" for d in range(9, 16)]
    assert nice_top(0) == 1 and nice_top(9) == 10 and nice_top(10) == 20
    assert nice_top(Decimal("0.4"), money=True) == Decimal("0.5")


# --- durations ----------------------------------------------------------------------------------
def test_percentile_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0


@pytest.mark.parametrize("count", [1, 2, 7, 20])
def test_median_and_p95_read_in_sql_match_the_python_reference(user, count):
    rng = random.Random(count)
    runs = [rng.randint(1, 500) for _ in range(count)]
    for r in runs:
        job(user, JobStatus.COMPLETED, ended=timedelta(minutes=5), run=r)
    for r in runs[: count // 2]:  # another type, half as many: each type is ranked apart
        job(user, JobStatus.COMPLETED, ended=timedelta(minutes=5), run=r + 1000, job_type="probe")
    stats = duration_stats(Job.objects.all())
    median, p95 = stats["render_clip"]
    assert median == pytest.approx(statistics.median(runs))
    assert p95 == pytest.approx(percentile([float(r) for r in runs], 95))
    if count > 1:
        others = [float(r + 1000) for r in runs[: count // 2]]
        assert stats["probe"] == pytest.approx((statistics.median(others), percentile(others, 95)))
    else:
        assert "probe" not in stats


def test_per_type_figures(history):
    stats = {t["job_type"]: t for t in figures("24h")["type_stats"]}
    render = stats["render_clip"]
    assert render["counts"] == {"completed": 5, "failed": 1, "cancelled": 0}
    assert render["median"] == pytest.approx(3) and render["p95"] == pytest.approx(6)
    assert render["failure_rate"] == pytest.approx(1 / 6)
    assert render["completed_per_hour"] == pytest.approx(5 / 24)
    assert render["all_time"] == 5 + 2 + 3 + 1 + 2 + 1  # imported rows included
    assert render["all_time_counts"]["failed"] == 3
    probe = stats["probe"]
    assert probe["created"] == 2  # processing and cancelled; not the slow one, 2 days old
    assert probe["counts"]["completed"] == 1  # the slow one ended here


# --- costs and budgets --------------------------------------------------------------------------
@pytest.fixture
def costs(user, other_user, settings):
    settings.EF_MONTHLY_BUDGET_USD = 10
    UsageBudget.objects.create(user=other_user, monthly_limit_usd=Decimal("2.00"), hard=True)
    cost(user, "4.000000", timedelta(minutes=10))
    cost(None, "33.000000", timedelta(hours=3), service="elevenlabs")  # imported: no owner
    cost(other_user, "3.000000", timedelta(days=2), service="elevenlabs")
    cost(None, "5.000000", timedelta(days=40))  # last month
    cost(user, "0.123456", timedelta(days=6))  # this month (the 9th), in 7 days


@pytest.mark.parametrize(
    "window, total, buckets", [("1h", "4", 60), ("24h", "37", 25), ("7d", "40.123456", 168)]
)
def test_cost_chart_covers_the_window_and_agrees_with_the_spend(costs, window, total, buckets):
    ctx = figures(window)
    chart, spend = ctx["cost_chart"], ctx["spend"]
    assert spend["window"] == chart["total"] == Decimal(total)
    assert sum(b["value"] for b in chart["bars"]) == chart["total"]
    assert sum(u["cost"] for u in ctx["usage"]) == spend["window"]  # the usage table: same window
    assert spend["all_time"] == Decimal("45.123456") and spend["month"] == Decimal("40.123456")
    assert chart["unit"] == ("minute" if window == "1h" else "hour")
    slot = (chart["plot"]["right"] - chart["plot"]["left"]) / buckets
    assert all(b["w"] <= slot for b in chart["bars"])
    assert min(b["y"] for b in chart["bars"]) > chart["plot"]["top"]  # headroom
    assert chart["y_ticks"][-1]["text"].startswith("$")


def test_spend_against_budget_counts_spend_without_an_owner(costs):
    budgets = figures("24h")["budgets"]
    rows = {r["username"]: r for r in budgets["rows"]}
    assert list(rows) == ["alice", "bob", "no owner"]
    assert rows["alice"]["spent"] == Decimal("4.123456") and rows["alice"]["limit"] == 10
    assert rows["bob"]["spent"] == Decimal("3") and rows["bob"]["percent"] == pytest.approx(150)
    assert rows["no owner"]["spent"] == Decimal("33") and rows["no owner"]["limit"] is None
    # The rows add up to all of this month's spend, the figure the cost panel shows.
    assert budgets["total"] == sum(r["spent"] for r in rows.values()) == Decimal("40.123456")
    assert budgets["total"] == figures("24h")["spend"]["month"]


# --- the page -----------------------------------------------------------------------------------
def test_dashboard_page(staff_client, user, django_capture_on_commit_callbacks, settings):
    settings.EF_MONTHLY_BUDGET_USD = 10
    now = timezone.now()
    for r in range(1, 4):
        Job.objects.create(
            job_type="render_clip", owner=user, status=JobStatus.COMPLETED,
            created_at=now - timedelta(minutes=9), started_at=now - timedelta(minutes=5, seconds=r),
            completed_at=now - timedelta(minutes=5),
        )  # fmt: skip
    Job.objects.create(
        job_type="render_clip", owner=None, status=JobStatus.FAILED, imported=True,
        created_at=now - timedelta(days=500), error="interrupted",
    )  # fmt: skip
    stuck = Job.objects.create(
        job_type="tts", owner=user, status=JobStatus.PROCESSING, attempts=1,
        started_at=now - timedelta(minutes=9), heartbeat_at=now - timedelta(minutes=5),
    )  # fmt: skip
    Job.objects.create(job_type="probe", owner=user)  # queued
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        queue.wake("light")  # its wake-up token
    CostEntry.objects.create(
        owner=None, service="elevenlabs", operation="tts", units=1000, unit_name="characters",
        cost_usd=Decimal("33.000000"), created_at=now - timedelta(minutes=2),
    )  # fmt: skip
    CostEntry.objects.create(
        owner=user, service="gemini", operation="analyze", units=10, unit_name="frames",
        cost_usd=Decimal("4.000000"), created_at=now - timedelta(minutes=2),
    )  # fmt: skip

    response = staff_client.get(reverse("ef_dashboard"), {"window": "1h"})
    assert response.status_code == 200
    ctx = response.context
    assert ctx["queue"]["ok"] and ctx["queue"]["depth"] == 1
    assert [j.pk for j in ctx["stuck"]] == [stuck.pk]
    html = response.content.decode()
    assert 'id="ef-throughput-chart"' in html and html.count('class="ef-throughput-bar"') == 1
    assert html.count('class="ef-cost-bar"') == 2 and 'id="ef-rq-link"' in html
    assert 'class="ef-axis-label ef-y-label"' in html and 'class="ef-axis-label ef-x-label"' in html
    assert 'id="ef-all-time-total">6<' in html and 'id="ef-imported-total">1<' in html
    assert 'id="ef-ended-total">3<' in html
    assert "by when they <strong>ended</strong>" in html
    assert '<tr data-user="no owner" class="ef-no-owner">' in html
    assert 'id="ef-budget-total">$37.0000<' in html and 'id="ef-spend-window">$37.0000<' in html
    assert "No spend this month" not in html
    assert str(stuck.pk) in html and "40%" in html  # alice: $4 of $10
    assert '<p id="ef-maintenance" class="errornote">Maintenance loop: none holds' in html


def test_dashboard_names_the_maintenance_loop_holding_the_lease(staff_client):
    lease_acquire(name=MAINTENANCE_LEASE, holder="worker-2 pid 41 worker #c0ffee", ttl=60)
    html = staff_client.get(reverse("ef_dashboard")).content.decode()
    line = html[html.index('<p id="ef-maintenance">') :].split("</p>")[0]
    assert "<strong>worker-2 pid 41 worker #c0ffee</strong> holds the lease since" in line
    assert re.search(r", (59|60) s left\)\.$", line), line


def test_dashboard_without_data_or_budget_setting(staff_client, settings):
    if hasattr(settings, "EF_MONTHLY_BUDGET_USD"):
        del settings.EF_MONTHLY_BUDGET_USD
    response = staff_client.get(reverse("ef_dashboard"))
    assert response.status_code == 200 and response.context["window"] == "24h"
    html = response.content.decode()
    assert "No jobs yet." in html and "No paid-API usage in this window." in html
    assert "No spend this month and no budgets set." in html
    assert 'id="ef-throughput-chart"' in html  # empty, with its axes
    bogus = staff_client.get(reverse("ef_dashboard"), {"window": "bogus"})
    assert bogus.context["window"] == "24h"
    assert "There is no window “bogus”: showing the last 24 hours." in bogus.content.decode()
