"""The admin in a real browser: headless Chromium (Playwright) against a real uvicorn server on
the test database. Watches a running job's bar advance without a reload, retries a failed job
through the UI and saves a screenshot of the dashboard."""

import os
import shutil
import signal
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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
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

    # The dashboard, linked from the admin index.
    page.goto(f"{server.url}/admin/")
    page.click("text=Operations dashboard")
    page.wait_for_selector("#ef-cost-chart")
    assert page.locator("#ef-cost-chart rect.ef-cost-bar").count() == 3
    assert page.locator("#ef-status-counts").is_visible()
    assert page.locator('#ef-rq-link[href="/admin/rq/"]').count() == 1
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    artifacts = os.environ.get("EF_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "admin-dashboard.png")
