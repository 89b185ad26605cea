"""The admin in a real browser: headless Chromium (Playwright) against a real uvicorn server on
the test database. Watches a running job's bar advance without a reload, retries a failed job
through the UI, sees a job created in the database appear as a new row without a reload, runs a
bulk retry with mixed outcomes, checks the list's one-line layout at 1440 px and saves
screenshots of the list and the dashboard."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from jobs import services
from jobs.models import CostEntry, Job
from jobs.status import JobStatus
from tests.processes import stop_process

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`uvicorn editfactory.asgi:application` on the test database (like conftest's WorkerProcess)."""

    def __init__(self, log_dir: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            EF_USE_TEST_DB="1",
            REDIS_URL=settings.REDIS_URL,
            DJANGO_SETTINGS_MODULE="editfactory.settings_test",
            PYTHONUNBUFFERED="1",
        )
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.log = log_dir / "uvicorn.log"
        self._log_fh = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "editfactory.asgi:application",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=settings.BASE_DIR, env=env, stdout=self._log_fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"uvicorn exited early:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/admin/login/", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise AssertionError(f"uvicorn not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.process)
        self._log_fh.close()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def browser_page(monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # Playwright's sync API keeps an event loop registered on this thread; the test's own ORM
    # calls are still plain synchronous code, which Django allows with this switch (tests only;
    # the server subprocess does not get it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            # Connections the test opened while Playwright's loop was registered are kept apart
            # from the test's usual one: close them, or PostgreSQL cannot drop the test database.
            connections.close_all()
            browser.close()


def save_artifact(page, tmp_path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    artifacts = os.environ.get("EF_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / name)
    return shot


def log_in(page, server, next_path: str) -> None:
    page.goto(f"{server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "pw-ops-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}{next_path}")


def fill_width(page, job_id) -> str:
    return page.locator(f'.ef-progress[data-ef-job="{job_id}"] .ef-progress-fill').evaluate(
        "el => el.style.width"
    )


def test_operator_watches_progress_retries_and_sees_the_dashboard(
    server, browser_page, django_user_model, user, tmp_path
):
    page = browser_page
    django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    running = Job.objects.create(job_type="test_sleep", owner=user, params={"seconds": 1})
    assert services.job_claim(job_id=running.pk)
    services.job_set_progress(
        job_id=running.pk, percent=10, stage="sleep", label="Warming up", eta_seconds=30
    )
    failed = Job.objects.create(
        job_type="noop", owner=user, status=JobStatus.FAILED, error="boom", attempts=3
    )
    for days, service, cost in [
        (0, "gemini", "0.40"),
        (1, "elevenlabs", "0.25"),
        (3, "gemini", "0.1"),
    ]:
        CostEntry.objects.create(
            owner=user, service=service, operation="op", units=1, unit_name="requests",
            cost_usd=cost, created_at=timezone.now() - timedelta(days=days),
        )  # fmt: skip

    page.goto(f"{server.url}/admin/login/?next=/admin/jobs/job/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "pw-ops-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/jobs/job/")
    assert fill_width(page, running.pk) == "10%"

    # The bar follows the job without a reload (the marker would vanish on navigation).
    page.evaluate("window.__efSamePage = true")
    services.job_set_progress(
        job_id=running.pk, percent=60, stage="sleep", label="Halfway", eta_seconds=5
    )
    selector = f'.ef-progress[data-ef-job="{running.pk}"]'
    page.wait_for_function(
        f"""() => document.querySelector('{selector} .ef-progress-fill').style.width === '60%'"""
    )
    assert "60% · Halfway" in page.locator(f"{selector} .ef-progress-text").inner_text()
    services.job_complete(job_id=running.pk, result={})
    badge = page.locator(f'[data-ef-status="{running.pk}"]')
    page.wait_for_function(
        f"""() => document.querySelector('[data-ef-status="{running.pk}"]').textContent === 'Completed'"""
    )
    assert "ef-status-completed" in badge.get_attribute("class")
    assert page.evaluate("window.__efSamePage") is True

    # Retry the failed job from its detail page.
    page.goto(f"{server.url}/admin/jobs/job/{failed.pk}/change/")
    page.click("#ef-retry")
    page.wait_for_selector("ul.messagelist")
    assert "Retried 1 job." in page.locator("ul.messagelist").inner_text()
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED and failed.attempts == 0

    # The dashboard, linked from the admin index; the week's window shows the three costs.
    page.goto(f"{server.url}/admin/")
    page.click("text=Operations dashboard")
    page.wait_for_selector("#ef-throughput-chart")
    page.click("text=last 7 days")
    page.wait_for_selector("#ef-cost-chart")
    assert page.locator("#ef-cost-chart rect.ef-cost-bar").count() == 3
    assert page.locator("#ef-status-counts").is_visible()
    assert page.locator('#ef-rq-link[href="/admin/rq/"]').count() == 1
    # Both charts have labelled axes; the tallest bar stays below the top of the plot.
    for chart in ("#ef-cost-chart", "#ef-throughput-chart"):
        assert page.locator(f"{chart} .ef-y-label").count() >= 2
        assert page.locator(f"{chart} .ef-x-label").count() >= 2
    top_gap = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('#ef-cost-chart rect')]
                   .map(r => r.getBBox().y)) - 12"""
    )
    assert top_gap > 0
    save_artifact(page, tmp_path, "admin-dashboard.png")


def test_new_jobs_appear_as_rows_and_the_list_stays_on_one_line_at_1440px(
    server, browser_page, django_user_model, user, tmp_path
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    # Rows with long texts: an imported failure, a long stage label, a long owner name.
    long_owner = django_user_model.objects.create_user("operations-team-member-long", "", "pw")
    old = timezone.now() - timedelta(days=200)
    legacy = Job.objects.create(
        job_type="generate_tts_voiceover", owner=long_owner, status=JobStatus.FAILED,
        stage_label="Generare TTS pentru toate segmentele selectate…", imported=True,
        error="interrupted: the prototype's server restarted while this job ran, and its "
        "in-memory job store was lost\nTraceback (most recent call last): ...",
        created_at=old, started_at=old, completed_at=old + timedelta(hours=30),
    )  # fmt: skip
    running = Job.objects.create(job_type="test_sleep", owner=user, params={"seconds": 1})
    assert services.job_claim(job_id=running.pk)
    services.job_set_progress(
        job_id=running.pk, percent=12, stage="render", label="Rendering the final clip with "
        "burned subtitles and the TikTok preset", eta_seconds=3725,
    )  # fmt: skip

    log_in(page, server, "/admin/jobs/job/")
    assert page.locator("#result_list tbody tr").count() == 2
    assert (
        "interrupted: the prototype"
        in page.locator(
            f'#result_list tr:has(input[value="{legacy.pk}"]) .ef-error-cell'
        ).inner_text()
    )

    # A job created in the database while the page is open appears at the top, no reload.
    page.evaluate("window.__efSamePage = true")
    fresh = Job.objects.create(job_type="noop", owner=user, params={"n": 1})
    first_row = "#result_list tbody tr:first-child"
    page.wait_for_selector(f'{first_row} input.action-select[value="{fresh.pk}"]')
    assert page.evaluate("window.__efSamePage") is True
    assert page.locator("#result_list tbody tr").count() == 3
    assert (
        page.locator(f"{first_row}.ef-new-row td").count()
        == page.locator(f'#result_list tr:has(input[value="{running.pk}"]) td').count()
    )
    assert "1 new job since the page loaded." in page.locator("#ef-new-rows").inner_text()
    assert page.locator("#changelist .paginator").inner_text().strip() == "3 jobs"
    # Its progress follows live like the others; its checkbox counts in the selection.
    services.job_claim(job_id=fresh.pk)
    services.job_set_progress(
        job_id=fresh.pk, percent=55, stage="x", label="Working", eta_seconds=None
    )
    page.wait_for_function(
        f"""() => document.querySelector('.ef-progress[data-ef-job="{fresh.pk}"] .ef-progress-fill')
                  .style.width === '55%'"""
    )
    page.check(f'{first_row} input.action-select[value="{fresh.pk}"]')
    assert page.locator("span.action-counter").inner_text() == "1 of 3 selected"

    # One line per row, every column (duration last) inside the page, no horizontal scroll.
    layout = page.evaluate(
        """() => {
          const rows = [...document.querySelectorAll('#result_list tbody tr')];
          const results = document.querySelector('#changelist .results');
          const last = document.querySelector('#result_list thead th:last-child');
          return {
            heights: rows.map(r => r.getBoundingClientRect().height),
            line: parseFloat(getComputedStyle(rows[0].querySelector('td')).lineHeight) || 16,
            lastHeader: last.className,
            lastRight: last.getBoundingClientRect().right,
            scroll: results.scrollWidth - results.clientWidth,
            viewport: window.innerWidth,
          };
        }"""
    )
    save_artifact(page, tmp_path, "admin-job-list.png")  # before the checks: a failure shows it
    assert layout["lastHeader"] == "column-duration"
    assert layout["scroll"] <= 0, layout
    assert layout["lastRight"] <= layout["viewport"], layout
    assert max(layout["heights"]) - min(layout["heights"]) <= 1, layout
    assert max(layout["heights"]) < 2 * layout["line"] + 12, layout  # one line and padding


def test_bulk_retry_with_mixed_outcomes_shows_each_jobs_message(
    server, browser_page, django_user_model, user
):
    page = browser_page
    django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    retryable = Job.objects.create(
        job_type="test_sleep", owner=user, status=JobStatus.FAILED, params={"seconds": 0},
        error="boom",
    )  # fmt: skip
    # Imported from the prototype: its params no longer validate.
    stale = Job.objects.create(
        job_type="test_sleep", owner=user, status=JobStatus.FAILED, imported=True,
        params={"seconds": "soon"}, error="interrupted",
    )  # fmt: skip
    log_in(page, server, "/admin/jobs/job/")
    for job in (retryable, stale):
        page.check(f'input.action-select[value="{job.pk}"]')
    page.select_option("select[name=action]", "retry_jobs")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    messages = page.locator("ul.messagelist li").all_inner_texts()
    assert "Retried 1 job(s)." in messages
    (skipped,) = [m for m in messages if m.startswith("Skipped")]
    assert skipped.startswith("Skipped 1 job(s): invalid params for job type 'test_sleep' (")
    assert str(stale.pk)[:8] in skipped and str(retryable.pk)[:8] not in skipped
    assert page.locator("ul.messagelist li.warning").count() == 1
    retryable.refresh_from_db()
    stale.refresh_from_db()
    assert retryable.status == JobStatus.QUEUED and stale.status == JobStatus.FAILED
