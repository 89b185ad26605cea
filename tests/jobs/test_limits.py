"""Per-user rate limit on starting jobs: real Redis, the real API."""

import threading
import time

import pytest
import redis
from django.test import RequestFactory

from core.apierrors import STATUS_BY_CODE
from core.errors import RateLimited
from jobs import limits, services
from jobs.limits import check_job_rate_limit, parse_rate
from jobs.models import Job
from media_pipeline.library.api.common import start_job

pytestmark = pytest.mark.django_db


def test_parse_rate():
    assert parse_rate("30/minute") == (30, 60)
    assert parse_rate("100/5m") == (100, 300)
    assert parse_rate("2 / seconds") == (2, 1)
    assert parse_rate("1000/day") == (1000, 86400)
    assert parse_rate("") is None and parse_rate("0") is None and parse_rate("0/hour") is None
    with pytest.raises(ValueError, match="invalid rate limit"):
        parse_rate("lots")
    with pytest.raises(ValueError):
        parse_rate("5/fortnight")


def test_limit_refuses_past_the_count_with_retry_after(settings, user, other_user):
    settings.RATE_LIMIT_JOBS = "3/minute"
    for _ in range(3):
        check_job_rate_limit(user)
    with pytest.raises(RateLimited) as err:  # a domain error; the API maps its code to 429
        check_job_rate_limit(user)
    assert (STATUS_BY_CODE[err.value.code], err.value.code) == (429, "rate_limited")
    assert "3 per minute" in err.value.message
    assert 1 <= int(err.value.headers["Retry-After"]) <= 60
    check_job_rate_limit(other_user)  # limits are per user


def test_staff_are_limited_too(settings, django_user_model):
    settings.RATE_LIMIT_JOBS = "1/minute"
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-root-123")
    check_job_rate_limit(admin)
    with pytest.raises(RateLimited):
        check_job_rate_limit(admin)


def test_window_slides(settings, user):
    settings.RATE_LIMIT_JOBS = "2/second"
    check_job_rate_limit(user)
    check_job_rate_limit(user)
    with pytest.raises(RateLimited) as err:
        check_job_rate_limit(user)
    assert err.value.headers["Retry-After"] == "1"
    time.sleep(1.05)
    check_job_rate_limit(user)  # the old creations left the window


def test_disabled_limit_never_refuses(settings, user):
    settings.RATE_LIMIT_JOBS = "0"
    for _ in range(50):
        check_job_rate_limit(user)


def test_concurrent_requests_cannot_pass_the_limit(settings, user):
    settings.RATE_LIMIT_JOBS = "5/minute"
    allowed, refused = [], []

    def attempt():
        try:
            check_job_rate_limit(user)
            allowed.append(1)
        except RateLimited:
            refused.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(allowed), len(refused)) == (5, 15)


def test_start_job_is_behind_the_limit_and_creates_nothing_when_refused(settings, user):
    settings.RATE_LIMIT_JOBS = "1/minute"
    request = RequestFactory().post("/")
    request.auth = user
    assert start_job(request, "noop").status_code == 202
    with pytest.raises(RateLimited) as err:
        start_job(request, "noop")
    assert STATUS_BY_CODE[err.value.code] == 429
    assert Job.objects.count() == 1


def test_retry_endpoint_answers_429_with_the_error_shape(settings, api, user):
    settings.RATE_LIMIT_JOBS = "1/minute"
    job = services.job_create(job_type="noop", owner=user)
    services.job_fail(job_id=job.id, message="boom")
    assert api.post(f"/api/v1/jobs/{job.id}/retry").status_code == 200
    services.job_fail(job_id=job.id, message="boom again")
    response = api.post(f"/api/v1/jobs/{job.id}/retry")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    job.refresh_from_db()
    assert job.status == "failed"  # the refused retry changed nothing


def test_redis_down_surfaces(settings, user, monkeypatch):
    settings.RATE_LIMIT_JOBS = "1/minute"
    closed = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    monkeypatch.setattr(limits.queue, "get_connection", lambda: closed)
    with pytest.raises(redis.exceptions.ConnectionError):
        check_job_rate_limit(user)
