"""The jobs list on plain SQL and the per-owner ledger (jobs.listing), built without validation
(jobs.api.job_page): for every filter, the same JSON as the ORM queryset and validated schema it
replaced, on SQLite and on PostgreSQL (DATABASE_URL)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

from core.models import ApiToken
from jobs import services
from jobs.api import JobFilters, job_page
from jobs.listing import job_list_page
from jobs.models import Job
from jobs.schemas import JobPage, JobSummary
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=123456)


@pytest.fixture
def jobs(user, other_user):
    """12 of the user's jobs a minute apart (types, statuses, a scheduled one), others' too."""
    statuses = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.QUEUED, JobStatus.CANCELLED]
    for n in range(12):
        Job.objects.create(
            owner=user, job_type="tts" if n % 3 else "noop", status=statuses[n % 4],
            created_at=NOW - timedelta(minutes=n), progress=n * 7.5, eta_seconds=n or None,
            error="boom" if n % 4 == 1 else "", attempts=n % 2, stage="s", stage_label="S",
        )  # fmt: skip
    services.job_create(job_type="noop", owner=user, run_at=NOW + timedelta(hours=1))
    Job.objects.create(owner=other_user, job_type="tts", status=JobStatus.COMPLETED)
    Job.objects.create(job_type="tts", status=JobStatus.COMPLETED)  # no owner
    return user


def rendered(page: JobPage) -> str:
    """The page as the API's JSON renderer writes it (an int where a float was validated, or a
    string where a UUID was, would show here)."""
    return json.dumps(page.model_dump(), cls=NinjaJSONEncoder)


def orm_page(user, *, limit, offset, **filters) -> JobPage:
    """The list as the ORM built it before (queryset, count, JobSummary.from_orm)."""
    qs = Job.objects.for_owner(user).order_by("-created_at")
    lookups = {"status": "status", "job_type": "job_type", "created_after": "created_at__gte",
               "created_before": "created_at__lt"}  # fmt: skip
    qs = qs.filter(**{lookups[k]: v for k, v in filters.items() if v is not None})
    items = [JobSummary.from_orm(job) for job in qs[offset : offset + limit]]
    return JobPage(total=qs.count(), limit=limit, offset=offset, items=items)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": JobStatus.QUEUED},
        {"status": JobStatus.FAILED, "job_type": "tts"},
        {"job_type": "noop"},
        {"job_type": "nothing-of-this-type"},
        {"created_after": NOW - timedelta(minutes=5)},
        {"created_before": NOW - timedelta(minutes=2), "status": JobStatus.COMPLETED},
        {"created_after": NOW - timedelta(minutes=9), "created_before": NOW - timedelta(minutes=3)},
    ],
)
@pytest.mark.parametrize(("limit", "offset"), [(50, 0), (3, 2), (5, 40)])
def test_the_list_reads_what_the_orm_reads(jobs, filters, limit, offset):
    page = job_page(jobs, JobFilters(limit=limit, offset=offset, **filters))
    assert rendered(page) == rendered(orm_page(jobs, limit=limit, offset=offset, **filters))


def test_a_scheduled_job_shows_when_it_may_start(jobs):
    (item,) = job_list_page(jobs.pk, limit=1, offset=0)["items"]
    assert item["status"] == JobStatus.QUEUED and item["scheduled_for"] > NOW
    assert job_list_page(jobs.pk, limit=50, offset=0, status=JobStatus.COMPLETED)["total"] == 3


@pytest.mark.django_db(transaction=True)  # the API reads on its pool's own connections
def test_the_list_answers_its_tokens_owner_only_and_refuses_dead_tokens(api, jobs, other_user):
    page = api.get("/api/v1/jobs?limit=2").json()
    assert page["total"] == 13 and len(page["items"]) == 2  # not other_user's, nor the ownerless
    jobs.is_active = False
    jobs.save()
    assert api.get("/api/v1/jobs").status_code == 401
    jobs.is_active = True
    jobs.save()
    ApiToken.objects.update(revoked=True)
    assert api.get("/api/v1/jobs").status_code == 401
