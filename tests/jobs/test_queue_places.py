"""A queued job's place in its queue and its estimated start, in the API, the SSE stream and the
admin; priorities through the API, the admin and create_job; the admin's queue controls."""

import asyncio
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone
from rq import Worker

from core.auth import api_token_create
from jobs import queue, services
from jobs.models import Job, QueueState
from jobs.services.positions import clear_cached_figures
from jobs.status import JobStatus
from tests.conftest import run_burst_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_figures():
    clear_cached_figures()
    yield
    clear_cached_figures()


@pytest.fixture
def idle_light_worker():
    """A real RQ worker registration on the light queue that takes no job: the queue has one
    live worker for the estimate, and the jobs stay queued for the test to look at."""
    rq_queue = queue.get_queue("light")
    worker = Worker([rq_queue], connection=rq_queue.connection)
    worker.register_birth()
    worker.heartbeat()
    yield worker
    worker.register_death()


def _history(seconds: list[float]) -> None:
    """Completed light jobs that ran this long (the queue's median run time)."""
    now = timezone.now()
    for s in seconds:
        Job.objects.create(
            job_type="noop", status=JobStatus.COMPLETED,
            started_at=now - timedelta(seconds=s + 60), completed_at=now - timedelta(seconds=60),
        )  # fmt: skip


def _staff(django_user_model) -> Client:
    staff = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    client = Client()
    client.force_login(staff)
    return client


def test_positions_follow_priority_and_users_turns_with_an_estimated_start(
    api, user, other_user, idle_light_worker
):
    _history([10, 20, 30])  # median 20 s
    a1, a2, a3 = (services.job_create(job_type="noop", owner=user) for _ in range(3))
    b1 = services.job_create(job_type="noop", owner=other_user)
    urgent = services.job_create(job_type="noop", owner=other_user, priority=5)
    expected = {urgent: 0, a1: 1, b1: 2, a2: 3, a3: 4}
    for job, position in expected.items():
        place = services.job_queue_place(job)
        assert (place.queue, place.position, place.paused) == ("light", position, False)
        # one live worker, nothing running: position p starts after p runs of 20 s
        wait = (place.estimated_start_at - timezone.now()).total_seconds()
        assert wait == pytest.approx(position * 20, abs=3)
    body = api.get(f"/api/v1/jobs/{a2.id}").json()
    assert body["queue"] == "light" and body["queue_position"] == 3
    assert body["priority"] == 0 and body["queue_paused"] is False
    assert body["estimated_start_at"] is not None
    # The order the positions promise is the order the claims take.
    run_burst_worker()
    ids = [j.id for j in expected]
    started = Job.objects.filter(id__in=ids).order_by("started_at").values_list("id", flat=True)
    assert list(started) == [j.id for j in sorted(expected, key=expected.get)]
    done = api.get(f"/api/v1/jobs/{a2.id}").json()
    assert done["queue"] == "light" and done["queue_position"] is None
    assert done["estimated_start_at"] is None


def test_no_estimate_without_workers_or_history_and_none_while_paused(api, user):
    job = services.job_create(job_type="noop", owner=user)
    body = api.get(f"/api/v1/jobs/{job.id}").json()
    assert body["queue_position"] == 0 and body["estimated_start_at"] is None
    services.queue_pause(name="light")
    body = api.get(f"/api/v1/jobs/{job.id}").json()
    assert body["queue_paused"] is True and body["estimated_start_at"] is None


def test_the_sse_stream_carries_the_queue_place(user, other_user):
    services.job_create(job_type="noop", owner=other_user)
    job = services.job_create(job_type="noop", owner=user)
    raw = api_token_create(user=user, name="sse")[1]

    async def first_event() -> dict:
        response = await AsyncClient().get(
            f"/api/v1/jobs/{job.id}/events", headers={"Authorization": f"Bearer {raw}"}
        )
        stream = response.streaming_content
        chunk = (await anext(stream)).decode()
        await stream.aclose()
        return json.loads(chunk.split("data: ", 1)[1])

    event = asyncio.run(first_event())
    assert event["status"] == "queued" and event["queue_position"] == 1
    assert event["queue_paused"] is False and "estimated_start_at" in event


def test_job_creating_endpoints_take_a_priority(api, user, media):
    # POST /api/v1/jobs: the prototype's path, answered by POST /library/videos/process (a form)
    with media.video().open("rb") as fh:
        response = api.post(
            "/api/v1/jobs", {"file": fh, "params": '{"variant_count": 1}', "priority": "3"}
        )
    assert response.status_code == 202, response.content
    process = Job.objects.get(id=response.json()["job_id"])
    assert (process.job_type, process.priority) == ("process", 3)
    assert queue.waiting("renders") == 1  # a render-family job
    # a JSON body
    response = api.post(
        "/api/v1/library/audio/tts",
        {"text": "Hello there.", "provider": "offline", "priority": -2},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    tts = Job.objects.get(id=response.json()["job_id"])
    assert tts.priority == -2 and "priority" not in tts.params
    assert queue.waiting("light") == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"priority": 11}, "'priority' must be from -10 to 10, got 11"),
        ({"priority": -11}, "'priority' must be from -10 to 10, got -11"),
        ({"priority": "5"}, "valid integer"),
        ({"priority": True}, "valid integer"),
        ({"priority": 1.5}, "valid integer"),
    ],
)
def test_a_bad_priority_is_a_readable_422_and_creates_nothing(api, body, needle):
    response = api.post(
        "/api/v1/library/audio/tts",
        {"text": "Hello there.", "provider": "offline", **body},
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert needle in json.dumps(response.json())
    assert Job.objects.count() == 0


def test_a_bad_priority_in_a_form_is_a_422(api, media):
    with media.video().open("rb") as fh:
        response = api.post("/api/v1/library/videos/info", {"file": fh, "priority": "high"})
    assert response.status_code == 422
    with media.video().open("rb") as fh:
        response = api.post("/api/v1/library/videos/info", {"file": fh, "priority": "50"})
    assert response.status_code == 422
    assert "'priority' must be from -10 to 10, got 50" in response.json()["detail"]
    assert Job.objects.count() == 0


def test_a_queued_jobs_priority_changes_its_place_and_a_started_one_refuses(api, user):
    first = services.job_create(job_type="noop", owner=user)
    second = services.job_create(job_type="noop", owner=user)
    response = api.post(
        f"/api/v1/jobs/{second.id}/priority", {"priority": 3}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["priority"] == 3 and response.json()["queue_position"] == 0
    assert api.get(f"/api/v1/jobs/{first.id}").json()["queue_position"] == 1
    bad = api.post(
        f"/api/v1/jobs/{second.id}/priority", {"priority": 99}, content_type="application/json"
    )
    assert bad.status_code == 422
    services.job_claim(job_id=first.id)
    late = api.post(
        f"/api/v1/jobs/{first.id}/priority", {"priority": 1}, content_type="application/json"
    )
    assert late.status_code == 409
    assert "cannot change the priority of a processing job" in late.json()["detail"]


def test_another_users_job_priority_is_a_404(other_api, user):
    job = services.job_create(job_type="noop", owner=user)
    response = other_api.post(
        f"/api/v1/jobs/{job.id}/priority", {"priority": 1}, content_type="application/json"
    )
    assert response.status_code == 404
    assert Job.objects.get(id=job.id).priority == 0


def test_create_job_takes_a_priority(user):
    out = io.StringIO()
    call_command("create_job", "noop", "--priority", "-3", stdout=out)
    job = Job.objects.get()
    assert job.priority == -3
    assert f"job {job.id} (noop) queued in light at priority -3" in out.getvalue()
    with pytest.raises(CommandError, match="'priority' must be from -10 to 10, got 12"):
        call_command("create_job", "noop", "--priority", "12")
    assert Job.objects.count() == 1


def test_admin_shows_places_and_sets_priorities_with_a_report(django_user_model, user):
    staff = _staff(django_user_model)
    first = services.job_create(job_type="noop", owner=user)
    second = services.job_create(job_type="noop", owner=user)
    running = services.job_create(job_type="noop", owner=user)
    services.job_claim(job_id=running.id)
    page = staff.get(reverse("admin:jobs_job_changelist"))
    html = page.content.decode()
    assert "#1 in light" in html and "#2 in light" in html and 'id="ef-priority"' in html
    response = staff.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "set_priority_action", "priority": "6",
         "_selected_action": [second.pk, running.pk]},
        follow=True,
    )  # fmt: skip
    text = [str(m) for m in response.context["messages"]]
    assert "Set priority 6 on 1 job(s)." in text
    assert any(m.startswith("Skipped 1 job(s): cannot change the priority of a processing")
               for m in text)  # fmt: skip
    assert Job.objects.get(id=second.id).priority == 6
    assert services.job_queue_place(Job.objects.get(id=second.id)).position == 0
    detail = staff.get(reverse("admin:jobs_job_change", args=[first.pk])).content.decode()
    assert "#2 in light" in detail
    # the list's bars follow live: a queued job's text is its place
    live = staff.get(reverse("ef_live_progress"), {"ids": f"{first.pk},{second.pk}"}).json()
    assert live[str(second.pk)]["text"] == "p6 · #1 in light"
    assert live[str(first.pk)]["text"] == "#2 in light"
    bad = staff.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "set_priority_action", "priority": "", "_selected_action": [first.pk]},
        follow=True,
    )
    assert any("Type a priority from -10 to 10" in str(m) for m in bad.context["messages"])
    assert Job.objects.get(id=first.id).priority == 0


def test_admin_pauses_and_resumes_a_queue_and_edits_its_limits(django_user_model, user):
    staff = _staff(django_user_model)
    QueueState.objects.get_or_create(name="light")
    QueueState.objects.get_or_create(name="renders")
    job = services.job_create(job_type="noop", owner=user)
    changelist = reverse("admin:jobs_queuestate_changelist")
    assert staff.get(changelist).status_code == 200
    staff.post(changelist, {"action": "pause_queues", "_selected_action": ["light"]})
    state = QueueState.objects.get(name="light")
    assert state.paused and state.paused_by == "ops"
    assert "paused" in staff.get(changelist).content.decode()
    run_burst_worker()
    assert Job.objects.get(id=job.id).status == JobStatus.QUEUED
    detail = staff.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert "queue paused" in detail
    staff.post(changelist, {"action": "resume_queues", "_selected_action": ["light"]})
    assert not QueueState.objects.get(name="light").paused
    run_burst_worker()
    assert Job.objects.get(id=job.id).status == JobStatus.COMPLETED
    change = reverse("admin:jobs_queuestate_change", args=["light"])
    refused = staff.post(change, {"concurrency": "0", "per_user_concurrency": ""})
    assert refused.status_code == 200 and "greater than or equal to 1" in refused.content.decode()
    staff.post(change, {"concurrency": "2", "per_user_concurrency": "1"})
    state = QueueState.objects.get(name="light")
    assert (state.concurrency, state.per_user_concurrency) == (2, 1)


def test_polls_share_a_queue_snapshot_for_its_time_to_live(api, user, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.polling import job_detail

    first = services.job_create(job_type="noop", owner=user)
    second = services.job_create(job_type="noop", owner=user)

    def poll(job) -> tuple[int, int]:
        # What GET /api/v1/jobs/{id} answers (jobs.polling), on this thread to count its queries.
        with CaptureQueriesContext(connection) as queries:
            position = job_detail(owner_id=user.id, job_id=job.id).queue_position
        return position, len(queries)

    settings.QUEUE_SNAPSHOT_TTL = 0  # the tests' setting: every poll counts the queue afresh
    (p1, uncached), (p2, _) = poll(first), poll(second)
    assert (p1, p2) == (0, 1)
    settings.QUEUE_SNAPSHOT_TTL = 60  # production's sharing, made long for the test
    assert poll(first)[0] == 0  # fills the snapshot
    position, cached = poll(second)
    assert position == 1 and cached <= uncached - 3  # only the job's own count is left
    services.job_create(job_type="noop", owner=user, priority=5)
    assert poll(second)[0] == 1  # a snapshot: the newcomer shows once it is renewed
    clear_cached_figures()
    assert poll(second)[0] == 2
