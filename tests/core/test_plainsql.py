"""The plain SQL of the polling path (core.plainsql): the token check and the job detail read the
same values as the ORM, on SQLite and on PostgreSQL (run with DATABASE_URL set for the latter)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.auth import api_token_create, token_owner_id, tokens_flush_last_use
from core.models import ApiToken
from core.plainsql import Select, statement_cursor
from jobs import services
from jobs.models import CostEntry, Job, JobFile, WebhookDelivery
from jobs.polling import job_detail
from jobs.schemas import CostOut, WebhookDeliveryOut
from jobs.services.positions import own_jobs_ahead

pytestmark = pytest.mark.django_db(transaction=True)

PARAMS = {"text": 'Grüße, 世界 "quoted" \\ back', "nested": {"n": [1, 2.5, None, True]}}


@pytest.fixture
def rich_job(user, tmp_path):
    """A completed job with every kind of column filled: JSON, decimals, nulls, booleans."""
    job = services.job_create(job_type="noop", owner=user)
    Job.objects.filter(id=job.id).update(params=PARAMS)  # no test job type takes such params
    services.job_claim(job_id=job.id)
    services.job_set_progress(
        job_id=job.id, percent=37.5, stage="render", label="Rendu…", eta_seconds=1.25
    )
    for label in ("b", "a"):
        source = tmp_path / f"{label}.txt"
        source.write_text(label * 3)
        services.job_file_store(
            job_id=job.id, local_path=source, role=JobFile.Role.OUTPUT, label=label
        )
    services.cost_record(
        job_id=job.id, owner_id=user.id, service="elevenlabs", operation="tts",
        units=12, unit_name="characters",
    )  # fmt: skip
    services.cost_record(
        job_id=job.id, owner_id=user.id, service="gemini", operation="frames",
        units=Decimal("1234.567"), unit_name="frames", cost_usd=Decimal("0.000123"),
    )  # fmt: skip
    for attempt, delivered in ((1, False), (2, True)):
        WebhookDelivery.objects.create(
            job=job, attempt=attempt, url="http://127.0.0.1:9/hook", event="job.completed",
            status_code=None if not delivered else 204, error="" if delivered else "refused",
            duration_ms=None if not delivered else 12, delivered=delivered,
        )  # fmt: skip
    services.job_complete(job_id=job.id, result={"clips": [{"score": 0.75, "name": "é"}]})
    return Job.objects.get(id=job.id)


def test_job_detail_reads_what_the_orm_reads(rich_job):
    job = rich_job
    detail = job_detail(owner_id=job.owner_id, job_id=job.id)
    for name in ("id", "job_type", "status", "progress", "stage", "stage_label", "eta_seconds",
                 "attempts", "max_attempts", "error", "created_at", "updated_at", "started_at",
                 "completed_at", "params", "result", "run_after", "heartbeat_at"):  # fmt: skip
        assert getattr(detail, name) == getattr(job, name), name
        assert type(getattr(detail, name)) is type(getattr(job, name)), name
    assert detail.params == PARAMS and detail.result["clips"][0]["name"] == "é"
    assert detail.completed_at.tzinfo is not None and detail.expires_at == job.expires_at

    files = list(job.files.order_by("created_at", "id"))
    assert [
        (f.id, f.role, f.label, f.size, f.content_type, f.created_at) for f in detail.files
    ] == [(f.id, f.role, f.label, f.size, f.content_type, f.created_at) for f in files]
    assert detail.files[0].download_url.startswith(f"/api/v1/jobs/{job.id}/files/{files[0].id}?")

    orm_costs = CostEntry.objects.filter(job=job).order_by("-created_at")
    assert detail.costs == [CostOut.from_orm(c) for c in orm_costs]
    units = {c.service: c.units for c in detail.costs}
    assert str(units["elevenlabs"]) == "12.000" and str(units["gemini"]) == "1234.567"
    assert {str(c.cost_usd) for c in detail.costs} >= {"0.000123"}

    orm_deliveries = WebhookDelivery.objects.filter(job=job).order_by("created_at", "id")
    assert detail.webhook_deliveries == [WebhookDeliveryOut.from_orm(d) for d in orm_deliveries]
    assert [d.delivered for d in detail.webhook_deliveries] == [False, True]


def test_job_detail_is_the_owners_only(rich_job, other_user):
    assert job_detail(owner_id=other_user.id, job_id=rich_job.id) is None
    assert job_detail(owner_id=rich_job.owner_id, job_id=rich_job.id.__class__(int=1)) is None


def test_the_token_check(user, other_user):
    token, raw = api_token_create(user=user, name="t")
    assert token_owner_id(raw) == user.id
    assert tokens_flush_last_use() == 1  # the maintenance loop writes the use noted in Redis
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token_owner_id(raw + "x") is None
    assert token_owner_id("not-ef-" + raw) is None
    other_raw = api_token_create(user=other_user, name="o")[1]
    other_user.is_active = False
    other_user.save()
    assert token_owner_id(other_raw) is None  # an inactive user's token
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    assert token_owner_id(raw) is None


def test_a_stale_last_use_is_refreshed(user):
    token, raw = api_token_create(user=user, name="t")
    long_ago = timezone.now() - timedelta(days=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    with CaptureQueriesContext(connection) as queries:
        assert token_owner_id(raw) == user.id
    assert [q["sql"][:6] for q in queries] == ["SELECT"]  # a request writes no row
    token.refresh_from_db()
    assert token.last_used_at == long_ago
    assert tokens_flush_last_use() == 1
    token.refresh_from_db()
    assert token.last_used_at > long_ago
    assert tokens_flush_last_use() == 0  # flushed once
    assert token_owner_id(raw) == user.id  # fresh now: nothing noted
    assert tokens_flush_last_use() == 0


def test_select_sql_is_plain_and_parameterised():
    query = Select(Job, ["id", "owner_id"], 'WHERE "id" = %s')
    assert (
        query.sql == 'SELECT "jobs_job"."id", "jobs_job"."owner_id" FROM "jobs_job" WHERE "id" = %s'
    )
    assert query.fetch(Job._meta.pk.default()) == []
    assert connection.vendor in ("sqlite", "postgresql")


def test_own_jobs_ahead_counts_as_the_orm(user, other_user):
    """A queued job's own jobs ahead (the count every poll of a queued job runs) equals the ORM's
    count, across owners (and none), priorities, creation ties broken by id, due times and
    statuses."""
    now = timezone.now()
    same_moment = now - timedelta(minutes=5)
    jobs = []
    for n, (owner, priority, run_after) in enumerate(
        [
            (user, 0, None),
            (user, 0, now - timedelta(seconds=1)),  # due
            (user, 0, now + timedelta(hours=1)),  # not due yet: not ahead
            (user, 5, None),
            (other_user, 0, None),
            (None, 0, None),
            (None, 0, None),
            (user, 0, None),
        ]
    ):
        job = services.job_create(job_type="noop", owner=owner, priority=priority)
        created = same_moment if n in (0, 1, 5, 6) else now - timedelta(minutes=4, seconds=-n)
        Job.objects.filter(id=job.id).update(created_at=created, run_after=run_after)
        jobs.append(Job.objects.get(id=job.id))
    Job.objects.filter(id=jobs[7].id).update(status="processing")  # running: not queued
    types = ["noop"]
    for job in jobs:
        owner = job.owner_id or 0
        mine = Q(owner__isnull=True) if owner == 0 else Q(owner_id=owner)
        expected = (
            Job.objects.due_in_queue(types, now)
            .filter(mine, priority=job.priority)
            .filter(Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, id__lt=job.id))
            .count()
        )
        counted = own_jobs_ahead(
            types, now, owner, priority=job.priority, created_at=job.created_at, job_id=job.id
        )
        assert counted == expected, job
    # The figures themselves: of user's two jobs created at the same moment, the smaller id is
    # ahead of the other; the two ownerless ones likewise.
    tied = sorted([jobs[0], jobs[1]], key=lambda j: j.id)
    assert (
        own_jobs_ahead(types, now, user.id, priority=0, created_at=same_moment, job_id=tied[1].id)
        == 1
    )
    assert (
        own_jobs_ahead(
            types, now, 0, priority=0, created_at=same_moment, job_id=max(jobs[5].id, jobs[6].id)
        )
        == 1
    )


def _prepared_here() -> list[str]:
    """The statements PostgreSQL holds prepared for this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


_JOB_TYPE = Select(Job, ["job_type"], 'WHERE "id" = %s')


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares; SQLite not")
def test_a_repeated_statement_is_prepared_on_postgresql(user):
    job = services.job_create(job_type="noop", owner=user)
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    for _ in range(threshold - 1):
        assert _JOB_TYPE.first(job.id) == {"job_type": "noop"}
    assert not [s for s in _prepared_here() if '"job_type" FROM "jobs_job"' in s]
    for _ in range(2):
        assert _JOB_TYPE.first(job.id) == {"job_type": "noop"}
    prepared = [s for s in _prepared_here() if '"job_type" FROM "jobs_job"' in s]
    assert len(prepared) == 1 and "$1" in prepared[0]  # bound on the server, parsed once


def test_statement_cursor_runs_through_djangos_wrappers(user):
    """Django's execute wrappers see every statement (bench/_counting.py counts them so), and
    its query log shows them with their values."""
    job = services.job_create(job_type="noop", owner=user)
    seen = []

    def note(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        for _ in range(8):
            assert _JOB_TYPE.first(job.id) == {"job_type": "noop"}
    assert seen == [_JOB_TYPE.sql] * 8
    with CaptureQueriesContext(connection) as logged:
        _JOB_TYPE.first(job.id)
    assert [job_id_in(q["sql"], job) for q in logged.captured_queries] == [True]


def job_id_in(sql: str, job) -> bool:
    return str(job.id) in sql or job.id.hex in sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares; SQLite not")
def test_nothing_is_prepared_with_preparing_off(user):
    """EF_DB_POOLER leaves prepare_threshold unset: a pooler would hand the statement to a server
    connection that never prepared it."""
    job = services.job_create(job_type="noop", owner=user)
    options = connection.settings_dict["OPTIONS"]
    saved = options.pop("prepare_threshold")
    try:
        for _ in range(saved + 2):
            assert _JOB_TYPE.first(job.id) == {"job_type": "noop"}
    finally:
        options["prepare_threshold"] = saved
    assert not [s for s in _prepared_here() if '"job_type" FROM "jobs_job"' in s]


def test_statement_cursor_errors_are_djangos():
    """A failing statement raises Django's database error, as every other query does (the
    engine's retry on a lost database (jobs.dbretry) catches those)."""
    from django.db import DatabaseError

    with pytest.raises(DatabaseError), statement_cursor() as cursor:
        cursor.execute('SELECT 1 FROM "no_such_table" WHERE "id" = %s', [1])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's binary format")
def test_a_select_reads_its_rows_in_the_binary_format_on_postgresql(rich_job):
    """Read in C by psycopg (Django's text loader for timestamps is Python), the same values as
    the ORM's, JSON included (its text decoded by the field's decoder)."""
    from psycopg import pq

    formats = []

    def note(execute, sql, params, many, context):
        formats.append(context["cursor"].cursor.format)
        return execute(sql, params, many, context)

    fields = ["id", "params", "result", "progress", "created_at", "completed_at", "started_at"]
    select = Select(Job, fields, 'WHERE "id" = %s')
    with connection.execute_wrapper(note):
        row = select.first(rich_job.id)
    assert formats == [pq.Format.BINARY]
    assert row == {name: getattr(rich_job, name) for name in fields}
    assert row["params"] == PARAMS and row["completed_at"].utcoffset() == timedelta(0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's binary format")
def test_an_unknown_binary_jsonb_version_is_an_error_not_garbage():
    from psycopg import DataError

    from core.plainsql import _jsonb_text_loader

    loader = _jsonb_text_loader()(0, connection.connection)
    assert loader.load(b'\x01{"a": 1}') == b'{"a": 1}'
    with pytest.raises(DataError, match="jsonb binary format version"):
        loader.load(b'\x02{"a": 1}')
