"""In a real browser: a queued job's place on the job list, the "set priority" action, and
pausing a queue from the Queues page (headless Chromium, like tests/admin/test_browser.py)."""

import pytest

from jobs import services
from jobs.models import Job, QueueState
from tests.admin.test_browser import browser_page, log_in, save_artifact, server  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_operator_reorders_the_queue_and_pauses_it(
    server,  # noqa: F811
    browser_page,  # noqa: F811
    django_user_model,
    user,
    other_user,
    tmp_path,
):
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    for name in ("renders", "light"):
        QueueState.objects.get_or_create(name=name)
    first = services.job_create(job_type="noop", owner=user)
    second = services.job_create(job_type="noop", owner=user)
    late = services.job_create(job_type="noop", owner=other_user)

    log_in(page, server, "/admin/jobs/job/")
    bar = '#result_list tr:has(input[value="{}"]) .ef-progress-text'
    assert page.locator(bar.format(first.pk)).inner_text() == "#1 in light"
    assert page.locator(bar.format(late.pk)).inner_text() == "#2 in light"  # its user's turn
    assert page.locator(bar.format(second.pk)).inner_text() == "#3 in light"

    page.check(f'input.action-select[value="{second.pk}"]')
    page.select_option("select[name=action]", "set_priority_action")
    page.fill("#ef-priority", "4")
    page.click("button[name=index]")
    assert "Set priority 4 on 1 job(s)." in page.locator("ul.messagelist").inner_text()
    page.wait_for_function(
        f"""() => document.querySelector('{bar.format(second.pk)}').textContent
                  === 'p4 · #1 in light'"""
    )
    assert page.locator(bar.format(first.pk)).inner_text() == "#2 in light"
    save_artifact(page, tmp_path, "admin-queue-places.png")

    page.goto(f"{server.url}/admin/jobs/queuestate/")
    page.check('input.action-select[value="light"]')
    page.select_option("select[name=action]", "pause_queues")
    page.click("button[name=index]")
    assert "Paused light" in page.locator("ul.messagelist").inner_text()
    row = page.locator('#result_list tr:has(input[value="light"])')
    assert "paused" in row.inner_text() and "by ops" in row.inner_text()
    save_artifact(page, tmp_path, "admin-queues.png")
    assert QueueState.objects.get(name="light").paused

    page.goto(f"{server.url}/admin/jobs/job/{first.pk}/change/")
    assert "queue paused" in page.locator("body").inner_text()
    assert Job.objects.get(id=first.pk).status == "queued"
