"""The minimal job admin: staff-only list and detail, retry and cancel actions via the services."""

import re

import pytest
from django.urls import reverse

from core.models import ApiToken
from jobs.models import Job
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    client.force_login(admin)
    return client


def test_non_staff_users_cannot_open_the_admin(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:jobs_job_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_job_list_filters_and_detail(staff_client, user):
    done = Job.objects.create(job_type="noop", owner=user, status=JobStatus.COMPLETED, progress=100)
    Job.objects.create(job_type="test_sleep", owner=user, status=JobStatus.FAILED, error="boom")
    listing = staff_client.get(reverse("admin:jobs_job_changelist"), {"status__exact": "completed"})
    assert listing.status_code == 200
    assert str(done.id) in listing.content.decode() and "boom" not in listing.content.decode()
    detail = staff_client.get(reverse("admin:jobs_job_change", args=[done.id]))
    assert (
        detail.status_code == 200
        and "100%" in staff_client.get(reverse("admin:jobs_job_changelist")).content.decode()
    )


def test_retry_and_cancel_actions_use_the_services(staff_client, user):
    failed = Job.objects.create(job_type="noop", owner=user, status=JobStatus.FAILED, attempts=3)
    queued = Job.objects.create(job_type="noop", owner=user)
    done = Job.objects.create(job_type="noop", owner=user, status=JobStatus.COMPLETED)
    url = reverse("admin:jobs_job_changelist")
    response = staff_client.post(
        url, {"action": "retry_jobs", "_selected_action": [failed.id, done.id]}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert "Retried 1 job(s)." in messages
    assert (
        f"Skipped 1 job(s): cannot retry a completed job (only failed or cancelled). Jobs: {str(done.id)[:8]}."
        in messages
    )
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED and failed.attempts == 0
    staff_client.post(url, {"action": "cancel_jobs", "_selected_action": [queued.id]})
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    done.refresh_from_db()
    assert done.status == JobStatus.COMPLETED


def test_api_token_created_in_the_admin_is_shown_once_and_stored_hashed(staff_client, user):
    response = staff_client.post(
        reverse("admin:core_apitoken_add"), {"user": user.id, "name": "frontend"}
    )
    # Shown once, on the page itself: never in a cookie (the messages cookie is readable).
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert html.count("will not be shown again") == 1
    raw = re.search(r'value="(ef_[^"]+)"', html).group(1)
    assert all(raw not in morsel.value for morsel in response.cookies.values())
    assert all(raw not in morsel.value for morsel in staff_client.cookies.values())
    token = ApiToken.objects.get(name="frontend")
    assert raw.startswith("ef_") and raw not in (token.digest, token.prefix)
    from django.test import Client

    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/jobs").status_code == 200
