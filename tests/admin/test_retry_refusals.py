"""Retry in the admin never answers 500: a job whose params no longer validate (an imported one)
is skipped with its reason, per job, and the others are retried; its page offers no Retry button
but says why."""

import pytest
from django.urls import reverse

from jobs.models import Job
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    client.force_login(admin)
    return client


def _failed(user, job_type, params):
    # Created as the prototype import creates rows: params are stored as they were.
    return Job.objects.create(job_type=job_type, owner=user, status=JobStatus.FAILED, params=params)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_bulk_retry_with_mixed_outcomes_reports_each_job(staff_client, user):
    good = _failed(user, "test_sleep", {"seconds": 0})
    bad = [_failed(user, "test_sleep", {"seconds": -1, "legacy": "x"}) for _ in range(2)]
    gone = _failed(user, "no_such_type", {})
    selected = [good.id, *(j.id for j in bad), gone.id]
    response = staff_client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "retry_jobs", "_selected_action": selected},
        follow=True,
    )
    assert response.status_code == 200
    messages = _messages(response)
    assert "Retried 1 job(s)." in messages
    (params_msg,) = [m for m in messages if "invalid params" in m]
    assert params_msg.startswith("Skipped 2 job(s): invalid params for job type 'test_sleep' (")
    assert "params.seconds:" in params_msg and "params.legacy:" in params_msg
    assert all(str(j.id)[:8] in params_msg for j in bad)
    (type_msg,) = [m for m in messages if "unknown job type" in m]
    assert type_msg.startswith("Skipped 1 job(s): unknown job type 'no_such_type'")
    assert str(gone.id)[:8] in type_msg
    statuses = {j.id: j.status for j in Job.objects.all()}
    assert statuses[good.id] == JobStatus.QUEUED
    assert [statuses[j.id] for j in (*bad, gone)] == [JobStatus.FAILED] * 3


def test_a_job_that_cannot_be_retried_has_no_retry_button_and_says_why(staff_client, user):
    bad = _failed(user, "test_sleep", {"seconds": "soon"})
    page = staff_client.get(reverse("admin:jobs_job_change", args=[bad.id])).content.decode()
    assert 'id="ef-retry"' not in page
    assert "Retry unavailable: invalid params for job type &#x27;test_sleep&#x27;" in page
    good = _failed(user, "test_sleep", {"seconds": 0})
    page = staff_client.get(reverse("admin:jobs_job_change", args=[good.id])).content.decode()
    assert 'id="ef-retry"' in page and "Retry unavailable" not in page


def test_the_retry_button_posted_anyway_answers_with_the_reason(staff_client, user):
    bad = _failed(user, "test_sleep", {})
    url = reverse("admin:jobs_job_run", args=[bad.id, "retry"])
    response = staff_client.post(url, follow=True)
    assert response.status_code == 200
    (message,) = _messages(response)
    assert message.startswith("Nothing done: invalid params for job type 'test_sleep' (")
    assert "params.seconds: Field required" in message
    bad.refresh_from_db()
    assert bad.status == JobStatus.FAILED
