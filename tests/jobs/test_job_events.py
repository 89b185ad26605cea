"""The per-job event log: one row per status change, written by the transition itself, across
retries, rescues of killed workers, operator actions; read as attempts by the API and the admin.
Real workers, a real killed worker process, the real database."""

import time

import pytest
from django.conf import settings
from django.urls import reverse

from jobs import services
from jobs.models import Job, JobEvent
from jobs.status import JobStatus
from tests.conftest import run_burst_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _events(job) -> list[tuple]:
    return list(
        JobEvent.objects.filter(job=job)
        .order_by("at", "id")
        .values_list("kind", "attempt", "worker", "error")
    )


@pytest.mark.timeout(120)
def test_event_log_across_a_failed_attempt_and_its_retry(api, user, worker_process):
    job = services.job_create(job_type="test_flaky", params={"fail_times": 1}, owner=user)
    run_burst_worker()  # attempt 1, by a worker in this process
    wait_for(lambda: services.jobs_reconcile() == 1, timeout=10, message="the retry's backoff")
    worker_process()  # attempt 2, by another worker
    wait_for(
        lambda: Job.objects.get(id=job.id).status == JobStatus.COMPLETED,
        timeout=60,
        message="the second attempt",
    )
    job.refresh_from_db()

    events = _events(job)
    assert [(kind, attempt) for kind, attempt, _, _ in events] == [
        ("queued", 0),
        ("started", 1),
        ("retrying", 1),
        ("started", 2),
        ("completed", 2),
    ]
    first_worker, second_worker = events[1][2], events[3][2]
    assert first_worker and second_worker and first_worker != second_worker  # two workers
    assert events[2][2] == first_worker, "the retrying event names the failed attempt's worker"
    assert events[2][3].endswith("passing failure on attempt 1")
    assert events[4][2] == second_worker and events[4][3] == ""

    history = api.get(f"/api/v1/jobs/{job.id}/history")
    assert history.status_code == 200, history.content
    body = history.json()
    assert body["job_id"] == str(job.id) and body["status"] == "completed"
    attempts = body["attempts"]
    assert [(a["attempt"], a["outcome"], a["worker"]) for a in attempts] == [
        (1, "retrying", first_worker),
        (2, "completed", second_worker),
    ]
    assert "passing failure on attempt 1" in attempts[0]["error"] and attempts[1]["error"] == ""
    assert all(a["started_at"] <= a["ended_at"] for a in attempts)
    assert attempts[0]["ended_at"] <= attempts[1]["started_at"]
    assert [e["kind"] for e in body["events"]] == [k for k, *_ in events]


@pytest.mark.timeout(90)
def test_event_log_of_a_rescue_after_the_worker_is_killed(worker_process, user):
    job = services.job_create(job_type="test_sleep", params={"seconds": 3, "steps": 60}, owner=user)
    worker = worker_process()
    wait_for(lambda: Job.objects.get(id=job.id).progress > 0, message="the job to start")
    killed_attempt_worker = Job.objects.get(id=job.id).worker
    worker.kill()  # the worker and its work horse, SIGKILL: a crashed host
    time.sleep(settings.JOB_HEARTBEAT_TIMEOUT + 0.5)
    assert services.jobs_rescue_stale() == {"requeued": 1, "failed": 0}
    run_burst_worker()  # the rescued job runs again, to completion
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 2

    events = _events(job)
    assert [(kind, attempt) for kind, attempt, _, _ in events] == [
        ("queued", 0),
        ("started", 1),
        ("rescued", 1),
        ("started", 2),
        ("completed", 2),
    ]
    assert events[1][2] == events[2][2] == killed_attempt_worker
    assert events[2][3].startswith("worker lost: no heartbeat for")
    assert events[3][2] not in ("", killed_attempt_worker)
    attempts = services.job_history(job)["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "rescued"), (2, "completed")]
    assert "worker lost" in attempts[0]["error"]


def test_operator_retry_cancel_and_a_failure_for_good(user):
    job = services.job_create(job_type="test_flaky", params={"permanent": True}, owner=user)
    run_burst_worker()
    services.job_retry(job=Job.objects.get(id=job.id))
    services.job_cancel(job=Job.objects.get(id=job.id))
    assert [(k, a, e) for k, a, _, e in _events(job)] == [
        ("queued", 0, ""),
        ("started", 1, ""),
        ("failed", 1, "the input is bad: no retry"),
        ("queued", 0, ""),  # the operator's retry: attempts start over
        ("cancelled", 0, ""),
    ]
    attempts = services.job_history(job)["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "failed")]


def test_a_running_attempt_then_cancelled(user):
    job = services.job_create(job_type="noop", owner=user)
    claimed = services.job_claim(job_id=job.id)
    (attempt,) = services.job_history(claimed)["attempts"]
    assert (attempt["attempt"], attempt["outcome"], attempt["ended_at"]) == (1, "running", None)
    assert attempt["worker"] == claimed.worker != ""
    cancelled = services.job_cancel(job=claimed)
    (attempt,) = services.job_history(cancelled)["attempts"]
    assert attempt["outcome"] == "cancelled" and attempt["ended_at"] is not None


def test_a_status_change_that_does_not_happen_writes_no_event(user):
    job = services.job_create(job_type="noop", owner=user)
    run_burst_worker()
    before = _events(job)
    assert services.job_claim(job_id=job.id) is None  # completed: not claimable
    assert _events(job) == before and len(before) == 3
    services.job_delete(job=Job.objects.get(id=job.id))
    assert not JobEvent.objects.filter(job_id=job.id).exists()  # deleted with its job


def test_history_is_the_owners_only(api, other_api, user):
    job = services.job_create(job_type="noop", owner=user)
    assert other_api.get(f"/api/v1/jobs/{job.id}/history").status_code == 404
    body = api.get(f"/api/v1/jobs/{job.id}/history").json()
    assert body["attempts"] == [] and [e["kind"] for e in body["events"]] == ["queued"]


def test_admin_job_page_shows_the_attempts_and_events(client, django_user_model, user):
    job = services.job_create(job_type="test_flaky", params={"fail_times": 1}, owner=user)
    run_burst_worker()
    worker = JobEvent.objects.get(job=job, kind="started").worker
    admin = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    client.force_login(admin)
    page = client.get(reverse("admin:jobs_job_change", args=[job.id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="ef-table ef-attempts"' in html and 'class="ef-table ef-events"' in html
    assert 'class="ef-attempt ef-outcome-retrying"' in html and worker in html
    assert "passing failure on attempt 1" in html
    assert html.count('class="ef-event ef-event-') == 3  # queued, started, retrying
