"""What webhooks carry beyond the status: the caller's metadata, the job's exact cost, and the
optional job.progress events (throttled, signed and retried like the terminal event). A real
receiver on 127.0.0.1, real workers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import queue, services, webhooks
from jobs.models import Job, WebhookDelivery
from jobs.webhook_progress import ProgressWebhooks
from tests.conftest import run_burst_worker, wait_for
from tests.jobs.webhook_receiver import SECRET, check_signature

pytestmark = pytest.mark.django_db(transaction=True)

METADATA = {"order": "A-1042", "tags": ["launch", "ü"], "nested": {"n": 1, "ok": True}}


def test_terminal_event_carries_metadata_and_the_exact_cost(receiver_factory, user):
    receiver = receiver_factory()
    job = services.job_create(
        job_type="test_paid",
        params={"estimate": "0.20", "spend": "0.123457"},
        owner=user,
        callback_url=receiver.url,
        metadata=METADATA,
    )
    run_burst_worker()
    (request,) = receiver.received
    body = check_signature(request)
    assert body["event"] == "job.completed"
    assert body["job"]["metadata"] == METADATA
    assert body["job"]["cost_usd"] == "0.123457"  # a decimal string: exact, never a float
    assert Job.objects.get(id=job.id).metadata == METADATA


def test_a_job_without_costs_or_metadata_says_zero_and_empty(receiver_factory, user):
    receiver = receiver_factory()
    services.job_create(
        job_type="test_flaky", params={"permanent": True}, owner=user, callback_url=receiver.url
    )
    run_burst_worker()
    body = check_signature(receiver.received[0])
    assert body["event"] == "job.failed"
    assert body["job"]["metadata"] == {} and body["job"]["cost_usd"] == "0.000000"


def _progress_rq_ids() -> list[str]:
    return sorted(queue.get_queue().job_ids)


def test_progress_webhooks_at_each_step_and_at_most_every_interval(settings, user):
    """The worker's decision, on a controlled clock: one event per new 10 % step, none sooner
    than the interval after the previous one, a skipped step sent with the next write after it,
    nothing at 100 % (the terminal event's)."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_PROGRESS_INTERVAL = 10
    job = services.job_create(
        job_type="noop", owner=user, callback_url="http://127.0.0.1:9/h", webhook_progress=True
    )
    queue.get_queue().empty()  # the job's own delivery: not what this test looks at
    now = [1000.0]
    hooks = ProgressWebhooks(job, clock=lambda: now[0])
    assert hooks.progress(5) is False  # below the first step
    assert hooks.progress(12) is True  # step 10, the first event at once
    now[0] += 3
    assert hooks.progress(27) is False  # step 20 reached, but 3 s after the last event
    now[0] += 8  # 11 s after the last event
    assert hooks.progress(28) is True  # the pending step 20 goes out now
    assert hooks.progress(29) is False
    now[0] += 60
    assert hooks.progress(95) is True  # step 90: the steps in between are not sent one by one
    now[0] += 60
    assert hooks.progress(100) is False  # the terminal event says it
    assert _progress_rq_ids() == sorted(
        f"webhook-{job.id}-progress-{step}-1" for step in (10, 20, 90)
    )


def test_no_progress_webhooks_unless_asked(settings, user):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    job = services.job_create(job_type="noop", owner=user, callback_url="http://127.0.0.1:9/h")
    queue.get_queue().empty()
    assert ProgressWebhooks(job).progress(50) is False
    assert _progress_rq_ids() == []


def test_each_attempt_sends_its_own_steps(settings, user):
    """A retried attempt starts its progress from 0 (job_claim), so its steps are news again:
    the deliveries of an attempt are told apart by when it started."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    job = services.job_create(
        job_type="noop", owner=user, callback_url="http://127.0.0.1:9/h", webhook_progress=True
    )
    job.progress = 43.0  # a running attempt's progress, should a context start mid-way
    hooks = ProgressWebhooks(job)
    assert hooks.progress(45) is False and hooks.progress(51) is True
    claimed = services.job_claim(job_id=job.id)
    assert claimed.progress == 0 and ProgressWebhooks(claimed).progress(12) is True


def _processing(user, receiver, **options) -> Job:
    job = services.job_create(
        job_type="noop",
        owner=user,
        callback_url=receiver.url,
        webhook_progress=True,
        metadata=METADATA,
        **options,
    )
    return services.job_claim(job_id=job.id)


def test_progress_events_are_signed_retried_and_dropped_once_stale(receiver_factory, user):
    receiver = receiver_factory(statuses=(500, 200))
    job = _processing(user, receiver)
    services.job_set_progress(
        job_id=job.id, percent=34.5, stage="render", label="Rendering", eta_seconds=12
    )

    assert webhooks.webhook_deliver(job_id=job.id, attempt=1, step=30) == "failed"
    failed = WebhookDelivery.objects.get(job=job)
    assert (failed.event, failed.step, failed.status_code, failed.delivered) == (
        "job.progress",
        30,
        500,
        False,
    )
    # The maintenance loop retries it after the backoff, as attempt 2 of the same step.
    assert webhooks.webhooks_retry_due(now=failed.created_at + timedelta(seconds=0.2)) == 0
    assert webhooks.webhooks_retry_due(now=failed.created_at + timedelta(seconds=0.4)) == 1
    assert queue.is_held(f"webhook-{job.id}-progress-30-2")
    assert webhooks.webhook_deliver(job_id=job.id, attempt=2, step=30) == "delivered"
    assert webhooks.webhook_deliver(job_id=job.id, attempt=2, step=30) == "duplicate"
    assert webhooks.webhooks_retry_due(now=timezone.now() + timedelta(hours=1)) == 0

    body = check_signature(receiver.received[1])
    assert body["event"] == "job.progress"
    job_body = body["job"]
    assert (job_body["status"], job_body["progress"], job_body["stage"]) == (
        "processing",
        34.5,
        "render",
    )
    assert job_body["eta_seconds"] == 12 and job_body["metadata"] == METADATA
    assert job_body["cost_usd"] == "0.000000"

    # A later step sent: an earlier one still queued says nothing new.
    assert webhooks.webhook_deliver(job_id=job.id, attempt=1, step=50) == "delivered"
    assert webhooks.webhook_deliver(job_id=job.id, attempt=1, step=40) == "stale"
    # Once the job has ended, its terminal event says the rest.
    services.job_complete(job_id=job.id, result={})
    assert webhooks.webhook_deliver(job_id=job.id, attempt=1, step=60) == "stale"
    assert webhooks.webhook_deliver(job_id=job.id, attempt=1) == "delivered"
    events = [check_signature(r)["event"] for r in receiver.received]
    assert events == ["job.progress", "job.progress", "job.progress", "job.completed"]


def test_a_failed_progress_event_is_not_retried_after_the_job_ended(receiver_factory, user):
    receiver = receiver_factory(statuses=(503,))
    job = _processing(user, receiver)
    assert webhooks.webhook_deliver(job_id=job.id, attempt=1, step=10) == "failed"
    services.job_complete(job_id=job.id, result={})
    later = timezone.now() + timedelta(minutes=5)
    webhooks.webhooks_retry_due(now=later)
    assert not queue.is_held(f"webhook-{job.id}-progress-10-2")


@pytest.mark.timeout(120)
def test_a_running_job_posts_progress_events_then_its_end(
    receiver_factory, user, worker_process, monkeypatch
):
    """Real worker processes: one runs the job and queues its progress events, the other
    delivers them while it runs."""
    receiver = receiver_factory()
    monkeypatch.setenv("EF_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("EF_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("EF_WEBHOOK_PROGRESS_INTERVAL", "0")
    job = services.job_create(
        job_type="test_sleep",
        params={"seconds": 8, "steps": 80},
        owner=user,
        callback_url=receiver.url,
        webhook_progress=True,
        metadata={"ref": 7},
    )
    workers = [worker_process(), worker_process()]
    wait_for(
        lambda: any(check_signature(r)["event"] == "job.completed" for r in receiver.received),
        timeout=90,
        message=f"the job's end to be posted (workers: {workers[0].output()[-2000:]})",
    )
    bodies = [check_signature(r) for r in receiver.received]
    progress = [b["job"] for b in bodies if b["event"] == "job.progress"]
    # 9 steps queued, one every 0.8 s; a loaded machine delivers fewer (a queued step that a
    # later one overtook is stale): CI's once delivered 2 in a 4 s run.
    assert len(progress) >= 2, bodies
    assert all(p["status"] == "processing" and p["metadata"] == {"ref": 7} for p in progress)
    values = [p["progress"] for p in progress]
    # A body carries the progress of its delivery: one sent for step 90 while the job wrote its
    # last step (100 %, not yet completed) says 100; no step of 100 is queued (the rows below).
    assert values == sorted(values) and 10 <= values[0] and values[-1] <= 100
    rows = WebhookDelivery.objects.filter(job=job, event="job.progress", delivered=True)
    assert set(rows.values_list("step", flat=True)) <= {10, 20, 30, 40, 50, 60, 70, 80, 90}
    # Each step at most once, and one terminal event (a progress event already being posted when
    # the job ended may arrive after it; one still queued then is dropped).
    assert len(rows) == len(set(rows.values_list("step", flat=True)))
    assert [b["event"] for b in bodies].count("job.completed") == 1
