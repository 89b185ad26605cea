"""Dispatch with real Redis, real forking workers and the real database: priorities, fair turns
across users, per-queue and per-user concurrency limits, pausing a queue, and queue families."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from jobs import queue, services
from jobs.models import Job, QueueState
from jobs.status import JobStatus
from tests.conftest import run_burst_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _start_order(jobs) -> list:
    ids = {j.id for j in jobs}
    return list(
        Job.objects.filter(id__in=ids).order_by("started_at", "id").values_list("id", flat=True)
    )


def _limits(name: str, *, concurrency=None, per_user=None) -> None:
    QueueState.objects.update_or_create(
        name=name, defaults={"concurrency": concurrency, "per_user_concurrency": per_user}
    )


def test_higher_priority_runs_first_and_order_is_kept_within_a_priority(user):
    low = [services.job_create(job_type="noop", owner=user, priority=-5) for _ in range(3)]
    normal = [services.job_create(job_type="noop", owner=user) for _ in range(3)]
    high = [services.job_create(job_type="noop", owner=user, priority=7) for _ in range(2)]
    run_burst_worker()
    assert _start_order(low + normal + high) == [j.id for j in high + normal + low]
    assert Job.objects.filter(status=JobStatus.COMPLETED).count() == 8


def test_one_users_burst_does_not_starve_another_user(user, other_user):
    burst = [services.job_create(job_type="noop", owner=user) for _ in range(20)]
    late = [services.job_create(job_type="noop", owner=other_user) for _ in range(2)]
    run_burst_worker()
    order = _start_order(burst + late)
    # Users take turns: the late user's two jobs start 2nd and 4th, not after the burst.
    assert [order.index(j.id) for j in late] == [1, 3]
    # Each user's own jobs keep their creation order.
    assert [i for i in order if i in {j.id for j in burst}] == [j.id for j in burst]


def test_a_late_user_gets_a_turn_while_a_burst_is_running(user, other_user, worker_process):
    burst = [
        services.job_create(job_type="test_sleep", owner=user, params={"seconds": 0.3, "steps": 1})
        for _ in range(20)
    ]
    worker_process("light")
    wait_for(lambda: Job.objects.filter(status=JobStatus.COMPLETED).count() >= 2, timeout=30)
    late = [
        services.job_create(
            job_type="test_sleep", owner=other_user, params={"seconds": 0.3, "steps": 1}
        )
        for _ in range(2)
    ]
    wait_for(
        lambda: all(Job.objects.get(id=j.id).status == JobStatus.COMPLETED for j in late),
        timeout=60,
        message="the late user's jobs",
    )
    still_waiting = Job.objects.filter(id__in=[j.id for j in burst], status=JobStatus.QUEUED)
    assert still_waiting.count() >= 10  # they did not wait for the burst to finish


def test_limits_per_queue_and_per_user_are_never_exceeded(django_user_model, worker_process):
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(3)]
    _limits("light", concurrency=2, per_user=1)
    jobs = [
        services.job_create(job_type="test_sleep", owner=u, params={"seconds": 0.4, "steps": 2})
        for u in users
        for _ in range(4)
    ]
    samples: list[Counter] = []
    stop = threading.Event()

    def sample():
        try:
            while not stop.is_set():
                owners = Job.objects.filter(status=JobStatus.PROCESSING).values_list(
                    "owner_id", flat=True
                )
                samples.append(Counter(owners))
                time.sleep(0.03)
        finally:
            connection.close()  # this thread's own connection

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(3):  # more workers than the queue's limit
            worker_process("light")
        wait_for(
            lambda: Job.objects.filter(status=JobStatus.COMPLETED).count() == len(jobs),
            timeout=90,
            message="every job to complete",
        )
    finally:
        stop.set()
        sampler.join()
    busy = [s for s in samples if s]
    assert busy, "no sample saw a running job"
    assert max(sum(s.values()) for s in busy) <= 2
    assert max(max(s.values()) for s in busy) <= 1
    assert max(sum(s.values()) for s in busy) == 2  # the limit, not fewer workers, held it
    assert {j.attempts for j in Job.objects.all()} == {1}  # deferring costs no attempt


def test_a_paused_queue_holds_its_jobs_and_resume_runs_them(user, worker_process):
    services.queue_pause(name="light", by="tester")
    light = [services.job_create(job_type="noop", owner=user) for _ in range(3)]
    render = services.job_create(
        job_type="test_render_sleep", owner=user, params={"seconds": 0.1, "steps": 1}
    )
    run_burst_worker()  # takes every token: the light ones start nothing
    assert {Job.objects.get(id=j.id).status for j in light} == {JobStatus.QUEUED}
    assert Job.objects.get(id=render.id).status == JobStatus.COMPLETED  # other queues run
    assert services.jobs_reconcile() == 0  # no token for a paused queue
    place = services.job_queue_place(Job.objects.get(id=light[1].id))
    assert place.paused and place.position == 1 and place.estimated_start_at is None
    worker_process("light")
    time.sleep(2)
    assert {Job.objects.get(id=j.id).status for j in light} == {JobStatus.QUEUED}
    services.queue_resume(name="light")
    wait_for(
        lambda: {Job.objects.get(id=j.id).status for j in light} == {JobStatus.COMPLETED},
        timeout=30,
        message="the resumed queue's jobs",
    )


def test_a_running_limit_wakes_the_next_job_when_one_ends(user):
    """Tokens turned away by a limit are not lost: the end of a job wakes the queue."""
    _limits("light", concurrency=1)
    jobs = [services.job_create(job_type="noop", owner=user) for _ in range(3)]
    running = services.job_claim(job_id=jobs[0].id)
    run_burst_worker()  # every token finds the queue at its limit
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2
    services.job_complete(job_id=running.id, result={})
    services.queue_after_job(queue="light")
    run_burst_worker()
    assert Job.objects.filter(status=JobStatus.COMPLETED).count() == 3


def test_each_family_has_its_own_rq_queue_and_worker(user, worker_process):
    render = services.job_create(
        job_type="test_render_sleep", owner=user, params={"seconds": 0.1, "steps": 1}
    )
    light = services.job_create(job_type="noop", owner=user)
    assert queue.waiting("renders") == 1 and queue.waiting("light") == 1
    worker_process("light")
    wait_for(lambda: Job.objects.get(id=light.id).status == JobStatus.COMPLETED, timeout=30)
    time.sleep(1)
    assert Job.objects.get(id=render.id).status == JobStatus.QUEUED  # no renders worker yet
    worker_process("renders")
    wait_for(lambda: Job.objects.get(id=render.id).status == JobStatus.COMPLETED, timeout=30)


def test_reconcile_tops_each_queue_up_to_its_due_jobs():
    Job.objects.create(job_type="noop", updated_at=timezone.now())
    Job.objects.create(job_type="noop", updated_at=timezone.now())
    Job.objects.create(job_type="test_render_sleep", params={"seconds": 0})
    assert services.jobs_reconcile() == 3
    assert (queue.waiting("light"), queue.waiting("renders")) == (2, 1)
    assert services.jobs_reconcile() == 0


def test_a_queued_job_of_an_uninstalled_type_fails_saying_so():
    job = Job.objects.create(job_type="gone_type")
    services.jobs_reconcile()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("job type 'gone_type' is not installed here")
