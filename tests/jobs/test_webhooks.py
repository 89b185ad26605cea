"""Signed webhooks end to end: a real HTTP receiver on 127.0.0.1, real forking workers."""

import json
import time
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from editfactory.api import api as root_api
from jobs import services, webhook_urls, webhooks
from jobs.errors import InvalidCallbackUrl
from jobs.models import Job, WebhookDelivery
from media_pipeline.library.api.common import start_job
from tests.conftest import run_burst_worker
from tests.jobs.webhook_receiver import check_signature

pytestmark = pytest.mark.django_db(transaction=True)


def test_completed_job_posts_a_signed_event(receiver_factory, user, api):
    receiver = receiver_factory()
    job = services.job_create(job_type="noop", owner=user, callback_url=receiver.url)
    run_burst_worker()  # runs the job, then the delivery it queued
    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request["headers"]["Content-Type"] == "application/json"
    body = check_signature(request)
    assert body["event"] == "job.completed"
    assert body["job"]["id"] == str(job.id) and body["job"]["status"] == "completed"
    assert body["job"]["result"] == {"ok": True} and body["job"]["progress"] == 100
    assert body["job"]["completed_at"] and body["job"]["error"] == ""
    assert webhooks.verify_signature(request["body"], request["headers"]["X-EditFactory-Signature"])
    (row,) = WebhookDelivery.objects.filter(job=job)
    assert (row.attempt, row.status_code, row.delivered, row.event) == (
        1,
        200,
        True,
        "job.completed",
    )
    assert row.duration_ms is not None and row.url == receiver.url
    detail = api.get(f"/api/v1/jobs/{job.id}").json()
    assert detail["webhook_deliveries"][0]["delivered"] is True
    assert webhooks.webhooks_retry_due() == 0  # nothing left to send


def test_failing_receiver_is_retried_with_backoff(receiver_factory, user):
    receiver = receiver_factory(statuses=(500, 200))
    job = services.job_create(job_type="noop", owner=user, callback_url=receiver.url)
    run_burst_worker()
    first = WebhookDelivery.objects.get(job=job)
    assert (first.attempt, first.status_code, first.delivered) == (1, 500, False)
    assert first.error == "HTTP 500"
    # The backoff after attempt 1 is 0.3 s (base); "now" is given to keep this exact.
    assert webhooks.webhooks_retry_due(now=first.created_at + timedelta(seconds=0.25)) == 0
    assert webhooks.webhooks_retry_due(now=first.created_at + timedelta(seconds=0.35)) == 1
    run_burst_worker()
    rows = list(WebhookDelivery.objects.filter(job=job).order_by("attempt"))
    assert [(r.attempt, r.status_code, r.delivered) for r in rows] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert len(receiver.received) == 2
    check_signature(receiver.received[1])
    assert webhooks.webhooks_retry_due(now=timezone.now() + timedelta(minutes=5)) == 0


def test_attempts_stop_at_the_maximum(receiver_factory, settings, user):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_BACKOFF_BASE = 0
    receiver = receiver_factory(statuses=(503,))
    job = services.job_create(job_type="noop", owner=user, callback_url=receiver.url)
    run_burst_worker()
    assert webhooks.webhooks_retry_due() == 1
    run_burst_worker()
    assert webhooks.webhooks_retry_due() == 0
    assert list(WebhookDelivery.objects.filter(job=job).values_list("attempt", "delivered")) == [
        (1, False),
        (2, False),
    ]
    assert webhooks.webhook_deliver(job_id=job.id, attempt=2) == "duplicate"


def test_failed_and_cancelled_jobs_post_their_events(receiver_factory, user):
    receiver = receiver_factory()
    failed = services.job_create(
        job_type="test_flaky", params={"permanent": True}, owner=user, callback_url=receiver.url
    )
    cancelled = services.job_create(job_type="noop", owner=user, callback_url=receiver.url)
    services.job_cancel(job=cancelled)
    run_burst_worker()
    events = {
        (b["job"]["id"], b["event"], b["job"]["error"])
        for b in (check_signature(r) for r in receiver.received)
    }
    assert events == {
        (str(failed.id), "job.failed", "the input is bad: no retry"),
        (str(cancelled.id), "job.cancelled", ""),
    }


def test_no_callback_no_delivery(receiver_factory, user):
    receiver = receiver_factory()
    services.job_create(job_type="noop", owner=user)
    run_burst_worker()
    assert receiver.received == [] and WebhookDelivery.objects.count() == 0


def test_address_is_checked_again_at_delivery(receiver_factory, settings, user):
    receiver = receiver_factory()
    job = services.job_create(job_type="noop", owner=user, callback_url=receiver.url)
    settings.WEBHOOK_ALLOWED_HOSTS = []  # as if the name now resolved somewhere private
    run_burst_worker()
    assert receiver.received == []
    row = WebhookDelivery.objects.get(job=job)
    assert not row.delivered and "non-public address (127.0.0.1)" in row.error


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://100.64.0.1/",
        # IPv6 forms that lead to a private, loopback or link-local IPv4 address
        "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[2001:0:808:808::80ff:fffe]/",  # Teredo, client 127.0.0.1 (obfuscated)
        "http://[64:ff9b::7f00:1]/",  # NAT64 (well-known prefix) of 127.0.0.1
        "http://[64:ff9b:1::c0a8:101]/",  # NAT64 (local-use prefix) of 192.168.1.1
        "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
        "http://[::ffff:0:a9fe:a9fe]/",  # IPv4-translated 169.254.169.254
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[fe80::1]/",
        "http://[fc00::1]/",
    ],
)
def test_private_addresses_are_refused(settings, user, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(InvalidCallbackUrl, match="non-public address"):
        services.job_create(job_type="noop", owner=user, callback_url=url)
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped public
        "2002:808:808::1",  # 6to4 of a public address
        "2001:0:808:808::f7f7:fbfb",  # Teredo, server and client (8.8.4.4) public
        "64:ff9b::808:808",  # NAT64 of a public address
    ],
)
def test_public_addresses_in_every_form_pass(address):
    assert webhook_urls._is_public(address)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "http:///x"])
def test_other_schemes_are_refused(user, url):
    with pytest.raises(InvalidCallbackUrl, match="http:// or https://"):
        services.job_create(job_type="noop", owner=user, callback_url=url)


def test_refusal_is_a_422_and_public_or_allowed_hosts_pass(settings, user):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    request = RequestFactory().post("/")
    request.auth = user
    for url in ("http://10.1.2.3/h", "ftp://93.184.215.14/h"):
        with pytest.raises(InvalidCallbackUrl) as err:
            start_job(request, "noop", callback_url=url)
        response = root_api.on_exception(request, err.value)
        assert response.status_code == 422
        error = json.loads(response.content)["error"]
        assert (
            error["code"] == "invalid_callback_url"
            and error["details"][0]["field"] == "callback_url"
        )
    assert start_job(request, "noop", callback_url="https://93.184.215.14/h").status_code == 202
    assert start_job(request, "noop", callback_url="http://127.0.0.1:9/h").status_code == 202


def test_signature_verification():
    body = b'{"event":"job.completed"}'
    now = time.time()
    header = webhooks.sign(str(int(now)), body, secret="k")
    assert webhooks.verify_signature(body, header, secret="k", now=now)
    assert not webhooks.verify_signature(body + b" ", header, secret="k", now=now)
    assert not webhooks.verify_signature(body, header, secret="other", now=now)
    assert not webhooks.verify_signature(body, header, secret="k", now=now + 301)  # replayed
    assert not webhooks.verify_signature(body, "garbage", secret="k", now=now)
