"""The claim's plain SQL (jobs.services.claimsql) reads what the ORM reads, on SQLite and on
PostgreSQL (run with DATABASE_URL set for the latter): the due jobs of a queue, the heads of its
users, a user's oldest job, the queue's limits; and the turn write."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Job, QueueState, QueueTurn
from jobs.registry import job_types_of
from jobs.services import claimsql
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _aware(value) -> datetime:
    """A creation time as the database returned it (SQLite: text in UTC)."""
    if isinstance(value, str):
        value = parse_datetime(value).replace(tzinfo=UTC)
    return value


@pytest.fixture
def mixed_jobs(user, other_user):
    """Jobs of every kind a claim must tell apart: statuses, due or not, other queues' types,
    owners or none, priorities, creation times that tie."""
    now = timezone.now()
    tie = now - timedelta(minutes=5)
    rows = []
    for n, (owner, priority, status, run_after, job_type) in enumerate(
        [
            (None, 0, JobStatus.QUEUED, None, "noop"),
            (None, 0, JobStatus.QUEUED, now - timedelta(seconds=1), "test_sleep"),
            (user, 0, JobStatus.QUEUED, None, "noop"),
            (user, 0, JobStatus.QUEUED, None, "noop"),  # same creation time as the one before
            (user, 5, JobStatus.QUEUED, None, "noop"),
            (user, 5, JobStatus.QUEUED, now + timedelta(hours=1), "noop"),  # not due
            (other_user, 5, JobStatus.QUEUED, None, "test_sleep"),
            (other_user, -3, JobStatus.QUEUED, None, "noop"),
            (other_user, 5, JobStatus.PROCESSING, None, "noop"),
            (other_user, 9, JobStatus.FAILED, None, "noop"),
            (user, 9, JobStatus.QUEUED, None, "test_render_sleep"),  # the renders queue
        ]
    ):
        created = tie if n in (2, 3) else now - timedelta(minutes=30 - n)
        rows.append(
            Job(
                job_type=job_type,
                owner=owner,
                priority=priority,
                status=status,
                run_after=run_after,
                created_at=created,
            )
        )
    Job.objects.bulk_create(rows)
    return now


def _orm_heads(job_types, now, candidates) -> set:
    rows = candidates.values("priority", "owner_id").annotate(first=Min("created_at")).order_by()
    return {(r["priority"], r["owner_id"], r["first"]) for r in rows}


@pytest.mark.parametrize("excluded", [(), (0,), ("user",), (0, "user", "other")])
def test_heads_and_oldest_jobs_match_the_orm(mixed_jobs, user, other_user, excluded):
    now = mixed_jobs
    keys = {"user": user.id, "other": other_user.id, 0: 0}
    excluded = tuple(keys[k] for k in excluded)
    job_types = job_types_of("light")
    candidates = Job.objects.due_in_queue(job_types, now)
    for key in excluded:
        candidates = candidates.exclude(Q(owner__isnull=True) if key == 0 else Q(owner_id=key))
    heads = claimsql.queue_heads(job_types, now, excluded=excluded)
    expected = _orm_heads(job_types, now, candidates)
    assert {(p, o, _aware(first)) for p, o, first in heads} == expected
    assert len(heads) == len(expected)
    for priority, owner, _first in heads:
        orm = (
            candidates.filter(Q(owner__isnull=True) if owner is None else Q(owner_id=owner))
            .filter(priority=priority)
            .order_by("created_at", "id")
            .values_list("id", flat=True)
            .first()
        )
        found = claimsql.oldest_job_id(
            job_types, now, owner_key=owner or 0, priority=priority, excluded=excluded
        )
        assert found == orm and orm is not None


def test_a_given_job_narrows_the_reads_to_it(mixed_jobs, user):
    now = mixed_jobs
    job_types = job_types_of("light")
    due = Job.objects.due_in_queue(job_types, now).filter(owner=user, priority=5).get()
    heads = claimsql.queue_heads(job_types, now, job_id=due.id)
    assert [(p, o, _aware(first)) for p, o, first in heads] == [(5, user.id, due.created_at)]
    assert (
        claimsql.oldest_job_id(job_types, now, owner_key=user.id, priority=5, job_id=due.id)
        == due.id
    )
    not_due = Job.objects.get(owner=user, priority=5, run_after__isnull=False)
    assert claimsql.queue_heads(job_types, now, job_id=not_due.id) == []


def test_a_job_id_given_as_text_narrows_as_its_uuid(mixed_jobs, user):
    """Ids arrive as text from JSON and the admin; SQLite stores them as 32 hex digits."""
    now = mixed_jobs
    job_types = job_types_of("light")
    due = Job.objects.due_in_queue(job_types, now).filter(owner=user, priority=5).get()
    assert claimsql.queue_heads(job_types, now, job_id=str(due.id)) == claimsql.queue_heads(
        job_types, now, job_id=due.id
    )
    found = claimsql.oldest_job_id(
        job_types, now, owner_key=user.id, priority=5, job_id=str(due.id)
    )
    assert found == due.id


def test_queue_limits_and_turns():
    assert claimsql.queue_limits("light") is None
    QueueState.objects.create(name="light", concurrency=3)
    limits = claimsql.queue_limits("light", lock=True)
    assert limits == claimsql.QueueLimits(paused=False, concurrency=3, per_user_concurrency=None)
    assert limits.limited
    QueueState.objects.filter(name="light").update(paused=True, concurrency=None)
    assert claimsql.queue_limits("light") == claimsql.QueueLimits(True, None, None)
    assert not claimsql.queue_limits("light").limited

    first, later = timezone.now() - timedelta(seconds=5), timezone.now()
    claimsql.turn_taken("light", 0, first)
    claimsql.turn_taken("light", 0, later)
    claimsql.turn_taken("renders", 0, first)
    turns = dict(((t.queue, t.owner_key), t.last_started_at) for t in QueueTurn.objects.all())
    assert turns == {("light", 0): later, ("renders", 0): first}
