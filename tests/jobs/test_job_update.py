"""A transition's UPDATE ... RETURNING (jobs.services.jobupdate): the plain SQL path writes and
reads back what the ORM's compiler path does, on SQLite and on PostgreSQL (run with DATABASE_URL
set for the latter), for every shape the engine uses; anything else goes through the ORM."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobEvent
from jobs.services import jobupdate
from jobs.services.events import job_event_record
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now().replace(microsecond=123456)

SHAPES = {
    "claim": (
        [JobStatus.QUEUED],
        {
            "status": JobStatus.PROCESSING,
            "attempts": F("attempts") + 1,
            "started_at": NOW,
            "heartbeat_at": NOW,
            "worker": "host:1",
            "progress": 0.0,
            "stage": "starting",
            "eta_seconds": None,
        },
        Q(run_after__isnull=True) | Q(run_after__lte=NOW),
    ),
    "complete": (
        [JobStatus.PROCESSING],
        {
            "status": JobStatus.COMPLETED,
            "result": {"files": ["a", "é"], "n": 2.5, "none": None},
            "progress": 100.0,
            "completed_at": NOW,
            "reserved_usd": Decimal("0"),
            "error": "",
        },
        None,
    ),
    "retry": (
        [JobStatus.FAILED, JobStatus.CANCELLED],
        {
            "status": JobStatus.QUEUED,
            "attempts": 0,
            "result": None,
            "run_after": None,
            "worker": "",
            "reserved_usd": Decimal("1.250000"),
        },
        None,
    ),
    "rescue": (
        [JobStatus.PROCESSING],
        {"status": JobStatus.QUEUED, "error": "worker lost", "run_after": NOW},
        Q(heartbeat_at=NOW - timedelta(seconds=40)),
    ),
}
START = {
    "claim": {"status": JobStatus.QUEUED, "attempts": 1, "run_after": NOW - timedelta(seconds=1)},
    "complete": {"status": JobStatus.PROCESSING, "reserved_usd": Decimal("2.5")},
    "retry": {"status": JobStatus.FAILED, "attempts": 3, "result": {"old": True}},
    "rescue": {"status": JobStatus.PROCESSING, "heartbeat_at": NOW - timedelta(seconds=40)},
}


def _values(job: Job) -> dict:
    return {f.attname: getattr(job, f.attname) for f in Job._meta.concrete_fields}


def _row(job_id) -> dict:
    """The row as written, but for what differs between two rows made one after the other."""
    row = _values(Job.objects.get(id=job_id))
    del row["id"], row["updated_at"]
    return row


def _update(path, job, allowed, fields, where):
    if path == "plain":
        return jobupdate.update_returning(job.id, allowed, dict(fields), where)
    statement, params = jobupdate._compiled(job.id, allowed, dict(fields), where)
    with connection.cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {jobupdate._RETURNING}", params)
        found = cursor.fetchall()
    return jobupdate._job_from_row(connection, found[0]) if found else None


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_plain_and_compiled_updates_write_and_return_the_same_row(shape):
    allowed, fields, where = SHAPES[shape]
    written = {}
    for path in ("plain", "compiled"):
        job = Job.objects.create(job_type="noop", created_at=NOW, **START[shape])
        with CaptureQueriesContext(connection) as queries:
            returned = _update(path, job, allowed, fields, where)
        assert len(queries) == 1, [q["sql"] for q in queries]
        assert returned is not None
        written[path] = _row(job.id)
        assert _values(returned) == _values(Job.objects.get(id=job.id))
    assert written["plain"] == written["compiled"]
    assert written["plain"]["status"] == fields["status"]


def test_the_plain_path_is_taken_and_a_condition_that_fails_updates_nothing():
    allowed, fields, where = SHAPES["claim"]
    job = Job.objects.create(job_type="noop", status=JobStatus.QUEUED, run_after=NOW)
    statement, _ = jobupdate._plain(connection, job.id, allowed, fields, where)
    assert statement.startswith("UPDATE") and "attempts" in statement
    later = Q(run_after__isnull=True) | Q(run_after__lte=NOW - timedelta(seconds=1))
    assert jobupdate.update_returning(job.id, allowed, dict(fields), later) is None
    assert jobupdate.update_returning(job.id, [JobStatus.FAILED], dict(fields), where) is None
    assert Job.objects.get(id=job.id).status == JobStatus.QUEUED


@pytest.mark.parametrize(
    "fields, where",
    [
        ({"status": JobStatus.FAILED, "progress": F("progress") * 2}, None),
        ({"status": JobStatus.FAILED}, ~Q(error="x")),
        ({"status": JobStatus.FAILED}, Q(error__contains="x") | Q(error="")),
    ],
)
def test_what_plain_sql_does_not_write_goes_through_the_orm(fields, where):
    job = Job.objects.create(job_type="noop", status=JobStatus.QUEUED, progress=10)
    with pytest.raises(jobupdate._NotPlain):
        jobupdate._plain(connection, job.id, [JobStatus.QUEUED], fields, where)
    updated = jobupdate.update_returning(job.id, [JobStatus.QUEUED], dict(fields), where)
    assert updated is not None and updated.status == JobStatus.FAILED
    assert updated.progress == (20 if "progress" in fields else 10)


EVENTS = {
    "started": ([JobStatus.QUEUED], {"status": JobStatus.PROCESSING, "worker": "host:2"}, ""),
    "retrying": ([JobStatus.PROCESSING], {"status": JobStatus.QUEUED, "worker": ""}, "host:1"),
    "queued": ([JobStatus.FAILED], {"status": JobStatus.QUEUED}, ""),
    "failed": ([JobStatus.PROCESSING], {"status": JobStatus.FAILED, "error": "é" * 6000}, ""),
}


@pytest.mark.parametrize("kind", EVENTS)
def test_the_change_and_its_event_are_one_statement_on_postgresql(kind):
    """The event the update writes (with it on PostgreSQL, after it elsewhere) is the one
    `job_event_record` writes for the changed row; a change that does not happen writes none."""
    allowed, fields, worker = EVENTS[kind]
    job = Job.objects.create(
        job_type="noop", status=allowed[0], worker="host:1", attempts=2, error="x" * 6000
    )
    event = (kind, worker)
    assert (
        jobupdate.update_returning(job.id, [JobStatus.COMPLETED], dict(fields), event=event) is None
    )
    assert not JobEvent.objects.exists()
    fields = {**fields, "updated_at": timezone.now(), "attempts": F("attempts") + 1}
    with CaptureQueriesContext(connection) as queries:
        changed = jobupdate.update_returning(job.id, allowed, fields, event=event)
    assert len(queries.captured_queries) == (1 if connection.vendor == "postgresql" else 2)
    written = JobEvent.objects.values("attempt", "kind", "worker", "at", "error").get()
    JobEvent.objects.all().delete()
    job_event_record(job=changed, kind=kind, worker=worker)
    assert written == JobEvent.objects.values("attempt", "kind", "worker", "at", "error").get()
    assert written["attempt"] == 3 and written["at"] == changed.updated_at
