"""Scheduled jobs (`run_at`) and the other creation options (metadata, webhook_progress): checked
at creation (422 naming the field), kept queued until their time (RQ is not given them early, and
an early delivery is refused by the claim), then run by the maintenance loop's reconcile."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs import queue, services
from jobs.models import Job, JobEvent
from jobs.runner import run_job
from jobs.status import JobStatus
from tests.chaos.servers import base_env, start_maintenance, stop_all
from tests.conftest import run_burst_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TTS = "/api/v1/library/audio/tts"


def _tts(client, **body):
    payload = {"text": "Hello there.", "provider": "offline", **body}
    return client.post(TTS, payload, content_type="application/json")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_scheduled_job_is_answered_queued_with_its_time(api, user):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    created = _tts(api, run_at=_iso(when))
    assert created.status_code == 202, created.content
    body = created.json()
    assert body["status"] == "queued" and body["scheduled_for"] == _iso(when)
    job = Job.objects.get(id=body["job_id"])
    assert job.run_after == when and queue.queue_depth() == 0, "RQ is not given it early"
    detail = api.get(f"/api/v1/jobs/{job.id}").json()
    assert detail["status"] == "queued" and detail["scheduled_for"] == _iso(when)
    listed = api.get("/api/v1/jobs").json()["items"][0]
    assert listed["scheduled_for"] == _iso(when)
    unscheduled = _tts(api).json()
    assert unscheduled["scheduled_for"] is None


@pytest.mark.parametrize(
    ("run_at", "message"),
    [
        ("2001-01-01T00:00:00Z", "is in the past"),
        ("2030-01-01T08:00:00", "has no time zone"),
        ("next tuesday", "valid datetime"),
        ("far", "days ahead"),
    ],
)
def test_bad_run_at_is_a_422_naming_it(api, user, run_at, message):
    if run_at == "far":
        run_at = _iso(timezone.now() + timedelta(days=400))
    response = _tts(api, run_at=run_at)
    assert response.status_code == 422, response.content
    assert message in response.json()["detail"] and "run_at" in response.json()["detail"]
    assert not Job.objects.exists()


def test_multipart_endpoints_take_the_options_as_form_fields(api, user, media, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    when = timezone.now() + timedelta(minutes=30)
    with media.video(seconds=1).open("rb") as fh:
        created = api.post(
            "/api/v1/library/videos/info",
            {
                "file": fh,
                "run_at": when.isoformat(),
                "metadata": '{"campaign": "spring", "n": 3}',
                "webhook_progress": "true",
                "callback_url": "http://127.0.0.1:9/hook",
            },
        )
    assert created.status_code == 202, created.content
    job = Job.objects.get(id=created.json()["job_id"])
    assert job.run_after == when and job.metadata == {"campaign": "spring", "n": 3}
    assert job.webhook_progress and job.status == JobStatus.QUEUED


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"metadata": "[1, 2]"}, "metadata", "'metadata' must be a JSON object"),
        ({"metadata": "{oops"}, "metadata", "'metadata' is not valid JSON"),
        ({"metadata": '{"x": "' + "a" * 4100 + '"}'}, "metadata", "the maximum is 4096"),
        ({"webhook_progress": "true"}, "webhook_progress", "needs a 'callback_url'"),
        ({"run_at": "2001-01-01T00:00:00+02:00"}, "run_at", "is in the past"),
    ],
)
def test_bad_form_options_are_a_422_before_the_upload_is_probed(
    api, user, media, fields, field, message
):
    with media.text_file().open("rb") as fh:  # not media: a probe would answer 415
        response = api.post("/api/v1/library/videos/info", {"file": fh, **fields})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert message in error["message"] and error["details"][0]["field"] == field
    assert not Job.objects.exists()


def test_metadata_in_a_json_body_is_bounded_too(api, user):
    response = _tts(api, metadata={"blob": "é" * 2100})  # 4200 bytes of UTF-8
    assert response.status_code == 422 and "the maximum is 4096" in response.json()["detail"]
    assert _tts(api, metadata={"blob": "é" * 2000}).status_code == 202


def test_a_scheduled_job_does_not_run_before_its_time_then_runs(user):
    run_at = timezone.now() + timedelta(seconds=2)
    job = services.job_create(job_type="noop", owner=user, run_at=run_at)
    assert queue.queue_depth() == 0
    assert services.jobs_reconcile() == 0  # not due: the maintenance loop leaves it
    # An early wake-up of its queue (a stray token) claims nothing: the job is not due.
    queue.wake("light")
    run_burst_worker()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.scheduled_for) == (JobStatus.QUEUED, 0, run_at)
    assert run_job(str(job.id)) == "skipped"
    assert list(JobEvent.objects.filter(job=job).values_list("kind", flat=True)) == ["queued"]

    wait_for(lambda: timezone.now() >= run_at, timeout=5, message="run_at")
    assert services.jobs_reconcile() == 1  # due: its queue is woken now
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    assert job.started_at >= run_at and job.scheduled_for is None


def test_a_scheduled_job_cancelled_before_its_time_never_runs(user):
    run_at = timezone.now() + timedelta(seconds=0.5)
    job = services.job_create(job_type="noop", owner=user, run_at=run_at)
    services.job_cancel(job=job)
    time.sleep(0.6)
    assert services.jobs_reconcile() == 0
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.started_at is None


@pytest.mark.timeout(90)
def test_the_maintenance_loop_starts_it_on_time_with_real_processes(
    user, worker_process, settings, tmp_path
):
    run_at = timezone.now() + timedelta(seconds=4)
    job = services.job_create(job_type="noop", owner=user, run_at=run_at)
    worker_process()
    maintenance = start_maintenance(
        env=base_env(EF_USE_TEST_DB="1", REDIS_URL=settings.REDIS_URL),
        log_dir=tmp_path,
        interval=0.3,
    )
    try:
        wait_for(
            lambda: Job.objects.get(id=job.id).status == JobStatus.COMPLETED,
            timeout=60,
            interval=0.1,
            message="the scheduled job to run",
        )
    finally:
        stop_all([maintenance])
    job.refresh_from_db()
    assert job.started_at >= run_at, (job.started_at, run_at)
    # Started by the loop's reconcile (how soon depends on the machine's load, which a test
    # does not time: the 60 s wait above is only a bound on a hang).
    assert "reconciled: 1 enqueued" in maintenance.output()


def test_create_job_command_takes_run_at_and_metadata(capsys, user):
    when = datetime.now(UTC) + timedelta(days=1)
    call_command("create_job", "noop", "--run-at", when.isoformat(), "--metadata", '{"by": "ops"}')
    job = Job.objects.get()
    assert job.run_after == when and job.metadata == {"by": "ops"}
    assert f"scheduled for {when.isoformat()}" in capsys.readouterr().out
    with pytest.raises(CommandError, match="is in the past"):
        call_command("create_job", "noop", "--run-at", "2001-01-01T00:00:00Z")
    with pytest.raises(CommandError, match="has no time zone"):
        call_command("create_job", "noop", "--run-at", "2031-01-01T00:00:00")
    with pytest.raises(CommandError, match="is not an ISO 8601 date and time"):
        call_command("create_job", "noop", "--run-at", "soon")
    assert Job.objects.count() == 1
