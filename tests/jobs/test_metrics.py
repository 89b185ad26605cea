"""GET /metrics: Prometheus' text format (parsed by prometheus_client's own parser and by a strict
line grammar), figures equal to the database and RQ, and who may read it."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Count
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker

from core.auth import api_token_create
from jobs.counts import DURATION_BUCKETS
from jobs.models import CostEntry, Job, QueueState
from jobs.queue import get_queue, waiting, wake
from jobs.services.transitions import transition
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db

URL = "/metrics"
# Text format 0.0.4: a comment (HELP/TYPE) or `name{label="value",...} value`.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = rf'\{{({NAME}="(?:[^"\\\n]|\\["\\n])*"(,{NAME}="(?:[^"\\\n]|\\["\\n])*")*,?)?\}}'
VALUE = r"([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?Inf|NaN)"
LINE = re.compile(
    rf"# HELP {NAME} .*|# TYPE {NAME} (counter|gauge|histogram|summary|untyped)"
    rf"|{NAME}({LABELS})? {VALUE}( -?\d+)?"
)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", "ops@example.com", "pw", is_staff=True)


@pytest.fixture
def staff_token(staff):
    return api_token_create(user=staff, name="prometheus")[1]


def scrape(client=None, **headers):
    return (client or Client()).get(URL, **headers)


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family, name=None) -> dict:
    """{(label values sorted by label name...): value} of a family's samples named `name`."""
    name = name or family.name
    return {
        tuple(v for _, v in sorted(s.labels.items())): s.value
        for s in family.samples
        if s.name == name
    }


def finish(job, status, seconds):
    start = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(started_at=start)
    transition(job.pk, JobStatus.PROCESSING)
    transition(job.pk, status, completed_at=start + timedelta(seconds=seconds))


def test_the_text_format_parses_and_the_figures_equal_the_database(
    staff_token, user, django_capture_on_commit_callbacks
):
    make = Job.objects.create
    runs = [0.5, 3, 3, 42, 5000, 9999]
    done = [make(job_type="render_clip", owner=user) for _ in runs]
    for job, seconds in zip(done, runs, strict=True):
        finish(job, JobStatus.COMPLETED, seconds)
    finish(make(job_type="tts"), JobStatus.FAILED, 7)
    make(job_type="tts", status=JobStatus.QUEUED)
    make(job_type="tts", status=JobStatus.QUEUED, imported=True)
    stuck = make(job_type="analyze", status=JobStatus.PROCESSING)
    Job.objects.filter(pk=stuck.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    Job.objects.filter(pk=done[0].pk).delete()  # gone from the gauge, still counted as an event
    CostEntry.objects.create(service="elevenlabs", operation="tts", units=10, unit_name="c",
                             cost_usd="0.123456")  # fmt: skip
    CostEntry.objects.create(service="elevenlabs", operation="tts", units=10, unit_name="c",
                             cost_usd="1.000001")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        for _ in range(3):
            make(job_type="tts")
            wake("light")  # the tts job's queue family gets its wake-up token
    QueueState.objects.update_or_create(name="light", defaults={"paused": True, "concurrency": 2})
    QueueState.objects.get_or_create(name="renders")

    response = scrape(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    for line in text.splitlines():
        assert LINE.fullmatch(line), f"not in the text format: {line!r}"
    found = families(text)

    truth = Job.objects.order_by().values("job_type", "status").annotate(n=Count("pk"))
    assert samples(found["ef_jobs"]) == {(r["job_type"], r["status"]): r["n"] for r in truth}
    assert found["ef_jobs"].type == "gauge"
    assert samples(found["ef_jobs_imported"]) == {(): 1}
    assert samples(found["ef_jobs_stuck"]) == {(): 1}
    created = samples(found["ef_jobs_created"], "ef_jobs_created_total")
    assert created == {("render_clip",): 6, ("tts",): 6, ("analyze",): 1}
    ended = samples(found["ef_jobs_ended"], "ef_jobs_ended_total")
    assert ended == {("render_clip", "completed"): 6, ("tts", "failed"): 1}
    assert found["ef_jobs_ended"].type == "counter"

    hist = found["ef_job_duration_seconds"]
    assert hist.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    expected = {str(float(b)): sum(r <= b for r in runs) for b in DURATION_BUCKETS}
    assert buckets == {**expected, "+Inf": 6}
    assert samples(hist, "ef_job_duration_seconds_count") == {("render_clip",): 6}
    assert samples(hist, "ef_job_duration_seconds_sum")[("render_clip",)] == pytest.approx(
        sum(runs), abs=0.01
    )
    assert samples(found["ef_spend_usd"]) == {("elevenlabs",): pytest.approx(1.123457)}

    assert samples(found["ef_redis_up"]) == {(): 1}
    assert samples(found["ef_queue_depth"]) == {("default",): 0, ("light",): 3, ("renders",): 0}
    assert waiting("light") == 3
    assert samples(found["ef_queue_paused"]) == {("light",): 1, ("renders",): 0}
    assert samples(found["ef_queue_concurrency_limit"]) == {("light",): 2, ("renders",): 0}
    assert samples(found["ef_workers"]) == {(): 0}


def test_live_workers_are_counted(staff_token):
    queue = get_queue()
    worker = Worker([queue], connection=queue.connection, name="metrics-test-worker")
    worker.register_birth()
    try:
        worker.heartbeat()
        found = families(scrape(HTTP_AUTHORIZATION=f"Bearer {staff_token}").content.decode())
        assert samples(found["ef_workers"]) == {(): 1}
        assert samples(found["ef_workers_busy"]) == {(): 0}
    finally:
        worker.register_death()


def test_redis_down_is_a_figure_not_an_error(staff_token):
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens there
        response = scrape(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    assert response.status_code == 200
    found = families(response.content.decode())
    assert samples(found["ef_redis_up"]) == {(): 0}
    assert "ef_queue_depth" not in found and "ef_jobs" in found


# --- access -------------------------------------------------------------------------------------
def assert_refused(response, status: int, code: str, words: str):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code and words in body["detail"]
    assert "ef_jobs" not in response.content.decode()


def test_anonymous_and_bad_tokens_are_401_json():
    anonymous = scrape()
    assert_refused(anonymous, 401, "unauthenticated", "Authorization: Bearer")
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="Edit Factory API"'
    bad = scrape(HTTP_AUTHORIZATION="Bearer ef_not-a-token")
    assert_refused(bad, 401, "unauthenticated", "not valid")
    assert 'error="invalid_token"' in bad["WWW-Authenticate"]


def test_a_users_token_or_session_that_is_not_staff_is_403(user, client):
    token = api_token_create(user=user, name="t")[1]
    assert_refused(scrape(HTTP_AUTHORIZATION=f"Bearer {token}"), 403, "forbidden", "staff")
    client.force_login(user)
    assert_refused(scrape(client), 403, "forbidden", "staff")


def test_staff_sessions_and_staff_tokens_may_read(staff, staff_token, client, django_user_model):
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {staff_token}").status_code == 200
    client.force_login(staff)
    assert scrape(client).status_code == 200
    # An inactive staff user's token no longer works.
    staff.is_active = False
    staff.save()
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {staff_token}").status_code == 401
    # Staff without any permission still read the figures: they are the operator's view.
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.none())
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=viewer, name='v')[1]}")\
        .status_code == 200  # fmt: skip


@override_settings(METRICS_TOKEN="scraper-secret-123")
def test_the_metrics_token_is_accepted_and_nothing_like_it():
    assert scrape(HTTP_AUTHORIZATION="Bearer scraper-secret-123").status_code == 200
    assert_refused(scrape(HTTP_AUTHORIZATION="Bearer scraper-secret-124"), 401,
                   "unauthenticated", "not valid")  # fmt: skip
    assert_refused(scrape(HTTP_AUTHORIZATION="Bearer "), 401, "unauthenticated", "not valid")


def test_only_get(staff_token):
    response = Client().post(URL, HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    assert_refused(response, 405, "method_not_allowed", "use GET")
