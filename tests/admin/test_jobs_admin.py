"""The job admin: list, filters, search, read-only detail, live progress, actions, permissions."""

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import queue, services
from jobs.models import CostEntry, Job, WebhookDelivery
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jobs_job_changelist"
LIVE = "ef_live_progress"


def changelist_ids(response) -> set[str]:
    return {str(job.pk) for job in response.context["cl"].result_list}


# --- access -------------------------------------------------------------------------------------
def test_non_staff_and_anonymous_are_sent_to_the_login_page(client, user, make_job, store_file):
    job = make_job(JobStatus.COMPLETED)
    jf = store_file(job)
    urls = [
        reverse(CHANGELIST),
        reverse("admin:jobs_job_change", args=[job.pk]),
        reverse("admin:jobs_job_file", args=[job.pk, jf.pk]),
        reverse("admin:jobs_job_cleanup"),
        reverse("ef_dashboard"),
        reverse(LIVE) + f"?ids={job.pk}",
    ]
    for who in (Client(), client):
        if who is client:
            client.force_login(user)
        for url in urls:
            response = who.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url
    response = client.post(reverse("admin:jobs_job_run", args=[job.pk, "retry"]))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_without_job_permissions_get_403(django_user_model, make_job):
    from tests.admin.conftest import staff_with

    client = Client()
    client.force_login(staff_with(django_user_model, "nobody"))
    job = make_job()
    assert client.get(reverse("ef_dashboard")).status_code == 403
    assert client.get(reverse(LIVE), {"ids": str(job.pk)}).status_code == 403
    assert client.get(reverse(CHANGELIST)).status_code == 403


# --- list ---------------------------------------------------------------------------------------
def test_changelist_shows_badges_progress_bars_and_columns(staff_client, make_job):
    running = make_job(
        JobStatus.PROCESSING, job_type="render_clip", progress=42, stage_label="Encoding"
    )
    failed = make_job(JobStatus.FAILED, error="boom", attempts=3, max_attempts=3)
    html = staff_client.get(reverse(CHANGELIST)).content.decode()
    assert f'data-ef-job="{running.pk}" data-ef-state="processing"' in html
    assert "width: 42.0%" in html and "42% · Encoding" in html
    assert 'class="ef-badge ef-status-failed"' in html and 'ef-status-processing"' in html
    assert "3/3" in html  # attempts
    assert "jobs/admin/live_progress.js" in html and 'name="ef-live-progress-url"' in html
    assert str(failed.pk)[:8] in html


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status__exact": "failed"}, {"failed_alice"}),
        ({"job_type": "render_clip"}, {"render_bob"}),
        ({"has_error": "yes"}, {"failed_alice"}),
        ({"has_error": "no"}, {"done_alice", "render_bob", "old_alice"}),
        ({"owner__id__exact": "BOB"}, {"render_bob"}),
        ({"created_at__gte": "OLD"}, {"failed_alice", "done_alice", "render_bob"}),
    ],
)
def test_changelist_filters(staff_client, make_job, user, other_user, query, expected):
    jobs = {
        "failed_alice": make_job(JobStatus.FAILED, error="boom"),
        "done_alice": make_job(JobStatus.COMPLETED),
        "render_bob": make_job(job_type="render_clip", owner=other_user),
        "old_alice": make_job(JobStatus.COMPLETED, age_days=30),
    }
    query = dict(query)
    if query.get("owner__id__exact") == "BOB":
        query["owner__id__exact"] = other_user.pk
    if query.get("created_at__gte") == "OLD":
        query["created_at__gte"] = (timezone.now() - timedelta(days=7)).isoformat()
    response = staff_client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    assert changelist_ids(response) == {str(jobs[name].pk) for name in expected}


def test_changelist_search_by_id_owner_and_params_text(staff_client, make_job, other_user):
    by_params = make_job(params={"preset": "tiktok", "text": "Sunset Beach"})
    by_owner = make_job(owner=other_user)
    other = make_job(params={"preset": "reels"})
    url = reverse(CHANGELIST)

    def search(term):
        return changelist_ids(staff_client.get(url, {"q": term}))

    # The params' JSON text is searched when asked ("params:"; it has no index), case-insensitive.
    assert search("params:sunset beach") == {str(by_params.pk)}
    assert search("PARAMS: tiktok") == {str(by_params.pk)}
    assert search("tiktok") == set()
    assert search("bob") == {str(by_owner.pk)}
    assert search(str(other.pk)) == {str(other.pk)}
    assert search("no-such-text") == set()


# --- detail -------------------------------------------------------------------------------------
def test_detail_page_is_read_only_and_shows_everything(staff_client, make_job, store_file):
    job = make_job(
        JobStatus.FAILED,
        params={"seconds": 3, "label": "<script>alert(1)</script>"},
        result={"ok": False},
        error="ValueError: bad frame",
        error_detail='Traceback (most recent call last):\n  File "x.py", line 1\nValueError',
        heartbeat_at=timezone.now(),
    )
    jf = store_file(job, "report.txt", b"x" * 2048)
    CostEntry.objects.create(
        job=job, owner=job.owner, service="gemini", operation="analyze", units=3,
        unit_name="frames", cost_usd="0.060000",
    )  # fmt: skip
    WebhookDelivery.objects.create(
        job=job, attempt=1, url="https://hooks.example.com/ef", event="job.failed",
        status_code=500, error="server error",
    )  # fmt: skip
    response = staff_client.get(reverse("admin:jobs_job_change", args=[job.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("Created", "Started", "Last heartbeat", "Completed"):
        assert f"<strong>{text}</strong>" in html
    assert '<pre class="ef-json">{\n  &quot;label&quot;: &quot;&lt;script&gt;' in html
    assert "<script>alert(1)</script>" not in html  # escaped
    assert "ValueError: bad frame" in html and "Traceback (most recent call last)" in html
    download = reverse("admin:jobs_job_file", args=[job.pk, jf.pk])
    assert f'href="{download}"' in html and "report.txt" in html and "2.0\xa0KB" in html
    assert "gemini" in html and "$0.060000" in html
    assert "https://hooks.example.com/ef" in html and "server error" in html
    assert 'id="ef-retry"' in html and 'id="ef-cancel"' not in html
    assert 'name="_save"' not in html  # no save buttons: jobs are read-only
    # A forged form post changes nothing.
    staff_client.post(reverse("admin:jobs_job_change", args=[job.pk]), {"status": "completed"})
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_file_download_streams_the_stored_file(staff_client, make_job, store_file):
    job = make_job(JobStatus.COMPLETED)
    jf = store_file(job, "clip.txt", b"0123456789")
    url = reverse("admin:jobs_job_file", args=[job.pk, jf.pk])
    response = staff_client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"0123456789"
    partial = staff_client.get(url, HTTP_RANGE="bytes=2-4")
    assert partial.status_code == 206 and b"".join(partial.streaming_content) == b"234"
    other_job = make_job(JobStatus.COMPLETED)
    wrong = reverse("admin:jobs_job_file", args=[other_job.pk, jf.pk])
    assert staff_client.get(wrong).status_code == 404
    default_storage.delete(jf.name)
    assert staff_client.get(url).status_code == 404


# --- live progress ------------------------------------------------------------------------------
def test_live_progress_reflects_progress_changes(staff_client, make_job):
    job = make_job()
    idle = make_job(JobStatus.COMPLETED)
    services.job_claim(job_id=job.pk)
    url = reverse(LIVE)
    first = staff_client.get(url, {"ids": f"{job.pk},{idle.pk}"}).json()
    assert first[str(job.pk)]["status"] == "processing" and first[str(job.pk)]["progress"] == 0
    assert first[str(idle.pk)]["terminal"] is True
    services.job_set_progress(
        job_id=job.pk, percent=37.5, stage="encode", label="Encoding", eta_seconds=12
    )
    data = staff_client.get(url, {"ids": str(job.pk)}).json()[str(job.pk)]
    assert data["progress"] == 37.5 and data["stage_label"] == "Encoding" and data["eta"] == 12
    assert data["text"] == "38% · Encoding · ETA 12s"
    services.job_complete(job_id=job.pk, result={})
    assert staff_client.get(url, {"ids": str(job.pk)}).json()[str(job.pk)]["status"] == "completed"


def test_live_progress_rejects_bad_ids(staff_client):
    response = staff_client.get(reverse(LIVE), {"ids": "not-a-uuid"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_ids"
    assert staff_client.get(reverse(LIVE), {"ids": ""}).json() == {}


# --- actions ------------------------------------------------------------------------------------
def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_bulk_retry_requeues_failed_jobs_on_rq(
    staff_client, make_job, django_capture_on_commit_callbacks
):
    failed = make_job(JobStatus.FAILED, error="boom", attempts=3)
    done = make_job(JobStatus.COMPLETED)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse(CHANGELIST),
            {"action": "retry_jobs", "_selected_action": [failed.pk, done.pk]},
            follow=True,
        )
    assert "Retried 1 job(s)." in messages_of(response)
    assert any(m.startswith("Skipped 1 job(s): cannot retry a") for m in messages_of(response))
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED and failed.attempts == 0 and failed.error == ""
    assert queue.waiting("light") == 1  # its queue was woken


def test_bulk_cancel(staff_client, make_job):
    queued, running = make_job(), make_job(JobStatus.PROCESSING)
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "cancel_jobs", "_selected_action": [queued.pk, running.pk]},
        follow=True,
    )
    assert "Cancelled 2 job(s)." in messages_of(response)
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.CANCELLED}


def test_single_job_buttons_retry_cancel_and_requeue(staff_client, make_job):
    failed = make_job(JobStatus.FAILED, error="x")
    response = staff_client.post(
        reverse("admin:jobs_job_run", args=[failed.pk, "retry"]), follow=True
    )
    assert "Retried 1 job." in messages_of(response)
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED
    response = staff_client.post(
        reverse("admin:jobs_job_run", args=[failed.pk, "cancel"]), follow=True
    )
    failed.refresh_from_db()
    assert failed.status == JobStatus.CANCELLED and "Cancelled 1 job." in messages_of(response)
    response = staff_client.post(
        reverse("admin:jobs_job_run", args=[failed.pk, "cancel"]), follow=True
    )
    assert any("Nothing done: cannot cancel a cancelled job" in m for m in messages_of(response))

    stuck = make_job(
        JobStatus.PROCESSING, attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    page = staff_client.get(reverse("admin:jobs_job_change", args=[stuck.pk])).content.decode()
    assert 'id="ef-requeue"' in page
    response = staff_client.post(
        reverse("admin:jobs_job_run", args=[stuck.pk, "requeue"]), follow=True
    )
    assert "Requeued 1 stuck job." in messages_of(response)
    stuck.refresh_from_db()
    assert stuck.status == JobStatus.QUEUED and stuck.stage == "requeued"
    assert (
        staff_client.get(reverse("admin:jobs_job_run", args=[stuck.pk, "retry"])).status_code == 405
    )
    assert (
        staff_client.post(reverse("admin:jobs_job_run", args=[stuck.pk, "nope"])).status_code == 404
    )


def test_bulk_requeue_stuck_touches_only_stuck_selected_jobs(staff_client, make_job):
    old = timezone.now() - timedelta(minutes=10)
    stuck = make_job(JobStatus.PROCESSING, heartbeat_at=old)
    stuck_unselected = make_job(JobStatus.PROCESSING, heartbeat_at=old)
    out_of_attempts = make_job(JobStatus.PROCESSING, heartbeat_at=old, attempts=3, max_attempts=3)
    healthy = make_job(JobStatus.PROCESSING)
    response = staff_client.post(
        reverse(CHANGELIST),
        {
            "action": "requeue_stuck_jobs",
            "_selected_action": [stuck.pk, out_of_attempts.pk, healthy.pk],
        },
        follow=True,
    )
    assert (
        "Requeued 1 stuck job(s); 1 failed (no attempts left); 1 skipped (not stuck)."
        in messages_of(response)
    )
    statuses = {j.pk: j.status for j in Job.objects.all()}
    assert statuses[stuck.pk] == JobStatus.QUEUED
    assert statuses[out_of_attempts.pk] == JobStatus.FAILED
    assert statuses[healthy.pk] == JobStatus.PROCESSING
    assert statuses[stuck_unselected.pk] == JobStatus.PROCESSING


def test_bulk_delete_with_files_asks_first_then_removes_the_stored_files(
    staff_client, make_job, store_file
):
    job, kept = make_job(JobStatus.COMPLETED), make_job(JobStatus.COMPLETED)
    names = [store_file(job, "a.txt").name, store_file(job, "b.txt").name]
    kept_name = store_file(kept, "c.txt").name
    form = {"action": "delete_selected", "_selected_action": [job.pk]}
    confirm = staff_client.post(reverse(CHANGELIST), form)
    assert confirm.status_code == 200 and b"Are you sure" in confirm.content
    assert Job.objects.filter(pk=job.pk).exists() and all(map(default_storage.exists, names))
    response = staff_client.post(reverse(CHANGELIST), {**form, "post": "yes"}, follow=True)
    assert "Deleted 2 stored file(s) with the jobs." in messages_of(response)
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not any(map(default_storage.exists, names))
    assert default_storage.exists(kept_name) and Job.objects.filter(pk=kept.pk).exists()


def test_detail_delete_removes_the_files(staff_client, make_job, store_file):
    job = make_job(JobStatus.FAILED)
    name = store_file(job).name
    url = reverse("admin:jobs_job_delete", args=[job.pk])
    page = staff_client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert f'href="{url}"' in page
    response = staff_client.post(url, {"post": "yes"}, follow=True)
    assert "Deleted 1 stored file(s) with the job." in messages_of(response)
    assert not Job.objects.filter(pk=job.pk).exists() and not default_storage.exists(name)


def test_cleanup_older_than_n_days_asks_n_then_confirms(staff_client, make_job, store_file):
    old_done = make_job(JobStatus.COMPLETED, age_days=10)
    old_failed = make_job(JobStatus.FAILED, age_days=40)
    old_running = make_job(JobStatus.PROCESSING, age_days=10)
    recent = make_job(JobStatus.COMPLETED, age_days=1)
    name = store_file(old_done).name
    url = reverse("admin:jobs_job_cleanup")
    # The list page offers the clean-up to those allowed to delete (the operator test: not others).
    listing = staff_client.get(reverse(CHANGELIST)).content.decode()
    assert f'href="{url}" class="ef-cleanup-link">Clean up old jobs</a>' in listing
    assert 'name="days"' in staff_client.get(url).content.decode()
    bad = staff_client.post(url, {"days": "0"})
    assert bad.status_code == 200 and bad.context["form"].errors["days"]
    preview = staff_client.post(url, {"days": "7"})
    assert "2 finished jobs" in preview.content.decode() and preview.context["count"] == 2
    assert Job.objects.count() == 4  # nothing deleted yet
    response = staff_client.post(url, {"days": "7", "confirm": "yes"}, follow=True)
    assert "Deleted 2 job(s) and 1 stored file(s) older than 7 day(s)." in messages_of(response)
    assert set(Job.objects.values_list("pk", flat=True)) == {old_running.pk, recent.pk}
    assert not default_storage.exists(name)
    assert not Job.objects.filter(pk=old_failed.pk).exists()


# --- permissions --------------------------------------------------------------------------------
def test_staff_without_delete_permission_cannot_delete(operator_client, make_job, store_file):
    job = make_job(JobStatus.COMPLETED, age_days=30)
    name = store_file(job).name
    listing = operator_client.get(reverse(CHANGELIST))
    actions = dict(listing.context["action_form"].fields["action"].choices)
    assert "retry_jobs" in actions and "delete_selected" not in actions
    assert "Clean up old jobs" not in listing.content.decode()
    response = operator_client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert (
        operator_client.post(
            reverse("admin:jobs_job_delete", args=[job.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        operator_client.post(
            reverse("admin:jobs_job_cleanup"), {"days": 1, "confirm": "yes"}
        ).status_code
        == 403
    )
    assert Job.objects.filter(pk=job.pk).exists() and default_storage.exists(name)
    page = operator_client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert 'id="ef-delete"' not in page


def test_operator_may_retry_but_viewer_may_not(operator_client, viewer_client, make_job):
    job = make_job(JobStatus.FAILED)
    url = reverse("admin:jobs_job_run", args=[job.pk, "retry"])
    assert viewer_client.post(url).status_code == 403
    assert viewer_client.get(reverse(CHANGELIST)).status_code == 200
    page = viewer_client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert 'id="ef-retry"' not in page
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert operator_client.post(url).status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_other_admin_pages_render(staff_client, make_job):
    job = make_job(JobStatus.FAILED)
    CostEntry.objects.create(
        job=job, owner=job.owner, service="elevenlabs", operation="tts", units=100,
        unit_name="characters", cost_usd="0.022",
    )  # fmt: skip
    WebhookDelivery.objects.create(job=job, attempt=1, url="https://x.example", event="job.failed")
    for name in ("jobs_costentry", "jobs_webhookdelivery", "core_apitoken"):
        response = staff_client.get(reverse(f"admin:{name}_changelist"), {"q": "x"})
        assert response.status_code == 200, name
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert reverse("ef_dashboard") in index and "/admin/rq/" in index
    assert json.loads(staff_client.get(reverse(LIVE), {"ids": str(job.pk)}).content)
