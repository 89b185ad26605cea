"""The count ledgers kept by database triggers (jobs.counts): after every kind of write (a
service, a bulk insert, a bulk update, a cascade delete, a rolled-back transaction) the sums
equal a GROUP BY over the jobs themselves, on SQLite and on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from jobs import services
from jobs.counts import (
    DURATION_BUCKETS,
    imported_count,
    job_counts,
    job_counts_compact,
    job_counts_install,
    job_tallies,
)
from jobs.models import Job, JobCount, JobOwnerCount, JobTally
from jobs.owner_counts import owner_counts_fold, owner_job_count
from jobs.services.transitions import transition
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db


def truth() -> dict:
    rows = Job.objects.order_by().values("job_type", "status").annotate(n=Count("pk"))
    return {(r["job_type"], r["status"]): r["n"] for r in rows}


def owner_truth() -> dict:
    rows = (
        Job.objects.exclude(owner=None)
        .order_by()
        .values("owner_id", "job_type", "status")
        .annotate(n=Count("pk"))
    )
    return {(r["owner_id"], r["job_type"], r["status"]): r["n"] for r in rows}


def owner_ledger() -> dict:
    rows = (
        JobOwnerCount.objects.order_by()
        .values("owner_id", "job_type", "status")
        .annotate(total=Sum("n"))
        .exclude(total=0)
    )
    return {(r["owner_id"], r["job_type"], r["status"]): r["total"] for r in rows}


def assert_counts_match():
    assert job_counts() == truth()
    assert imported_count() == Job.objects.filter(imported=True).count()
    assert owner_ledger() == owner_truth()


def tallies() -> dict:
    return {(t["job_type"], t["event"], t["le"]): (t["total"], t["total_seconds"])
            for t in job_tallies()}  # fmt: skip


def make(n=1, **fields):
    fields.setdefault("job_type", "noop")
    return Job.objects.bulk_create([Job(**fields) for _ in range(n)])


def test_counts_follow_inserts_status_changes_and_deletes(user):
    assert job_counts() == {}
    job = services.job_create(job_type="noop", params={}, owner=user)
    make(5, job_type="tts", status=JobStatus.COMPLETED)
    make(3, job_type="tts", status=JobStatus.FAILED, imported=True)
    Job.objects.create(job_type="render_clip", status=JobStatus.QUEUED)
    assert_counts_match()
    assert job_counts()[("tts", "failed")] == 3 and imported_count() == 3

    transition(job.id, JobStatus.PROCESSING)
    transition(job.id, JobStatus.COMPLETED, completed_at=timezone.now())
    Job.objects.filter(job_type="tts", status=JobStatus.COMPLETED).update(status=JobStatus.QUEUED)
    Job.objects.filter(job_type="render_clip").update(job_type="analyze")
    Job.objects.filter(job_type="tts").update(progress=50)  # no status change: no ledger row
    assert_counts_match()
    assert job_counts()[("noop", "completed")] == 1 and ("noop", "queued") not in job_counts()

    Job.objects.get(pk=Job.objects.filter(status=JobStatus.FAILED).first().pk).delete()
    Job.objects.filter(job_type="tts", status=JobStatus.QUEUED).delete()
    user.delete()  # cascades to the user's jobs
    assert_counts_match()
    assert job_counts() == {("tts", "failed"): 2, ("analyze", "queued"): 1}
    assert imported_count() == 2


def test_a_rolled_back_change_is_not_counted():
    (job,) = make(status=JobStatus.QUEUED)
    with pytest.raises(RuntimeError), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
        make(4)
        raise RuntimeError("undo")
    assert job_counts() == {("noop", "queued"): 1}


def test_compaction_folds_the_ledgers_and_keeps_the_sums():
    jobs = make(30, status=JobStatus.QUEUED)
    for job in jobs[:20]:
        Job.objects.filter(pk=job.pk).update(status=JobStatus.PROCESSING)
    for job in jobs[:10]:
        Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    before_counts, before_tallies = job_counts(), tallies()
    assert JobCount.objects.count() > 3
    assert job_counts_compact(above=1000) is False  # small enough: left alone
    assert job_counts_compact(above=0) is True
    assert job_counts() == before_counts == truth()
    assert tallies() == before_tallies
    # One row per key, and the key whose jobs all moved away (none are left) is gone.
    assert JobCount.objects.count() == 3
    assert JobTally.objects.count() == len(before_tallies)
    make(2, status=JobStatus.QUEUED)  # the triggers append after a fold as before
    assert_counts_match()


def test_tallies_count_events_and_bucket_run_times(user):
    start = timezone.now() - timedelta(hours=1)
    a, b, c, d = make(4, status=JobStatus.PROCESSING, started_at=start)
    Job.objects.filter(pk=a.pk).update(status=JobStatus.COMPLETED,
                                       completed_at=start + timedelta(seconds=42))  # fmt: skip
    Job.objects.filter(pk=b.pk).update(status=JobStatus.COMPLETED,
                                       completed_at=start + timedelta(hours=3))  # fmt: skip
    Job.objects.filter(pk=c.pk).update(status=JobStatus.FAILED, completed_at=start)
    Job.objects.filter(pk=d.pk).update(status=JobStatus.COMPLETED, started_at=None)
    Job.objects.all().delete()  # deleting jobs leaves their events counted
    counted = tallies()
    assert counted[("noop", "created", None)] == (4, 0)
    assert counted[("noop", "completed", 60.0)] == (1, pytest.approx(42, abs=0.01))
    assert counted[("noop", "completed", float("inf"))] == (1, pytest.approx(3 * 3600, abs=0.01))
    assert counted[("noop", "completed", None)] == (1, 0)  # no start: ended, no run time
    assert counted[("noop", "failed", None)] == (1, 0)
    assert len(counted) == 5 and job_counts() == {}
    assert DURATION_BUCKETS[-1] < 3 * 3600


def test_install_rebuilds_the_counts_and_the_triggers():
    make(3, status=JobStatus.COMPLETED)
    JobCount.objects.all().delete()  # a lost ledger
    with connection.cursor() as cursor:  # and lost triggers (SQLite drops them on a rebuild)
        cursor.execute("DROP TRIGGER IF EXISTS jobs_jobcount_insert" +
                       (" ON jobs_job" if connection.vendor == "postgresql" else ""))  # fmt: skip
    make(2, status=JobStatus.COMPLETED)
    assert job_counts() == {}
    job_counts_install()
    assert_counts_match()
    assert job_counts() == {("noop", "completed"): 5}
    make(1, status=JobStatus.FAILED)
    assert job_counts() == {("noop", "completed"): 5, ("noop", "failed"): 1}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_truncate_empties_the_counts():
    make(3)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's deferred foreign keys
        cursor.execute("TRUNCATE jobs_job CASCADE")
    assert job_counts() == {} == truth()
    assert owner_ledger() == {}


def test_owner_counts_follow_owner_changes_and_survive_folding(user, other_user):
    make(3, owner=user, status=JobStatus.QUEUED)
    make(2, owner=other_user, job_type="tts", status=JobStatus.FAILED)
    make(1, status=JobStatus.QUEUED)  # no owner: in no owner's count
    first = Job.objects.filter(owner=user).first()
    Job.objects.filter(pk=first.pk).update(status=JobStatus.COMPLETED)
    Job.objects.filter(owner=other_user).update(owner=user)  # handed over
    assert_counts_match()
    assert owner_job_count(user.pk) == 5 and owner_job_count(other_user.pk) == 0
    assert owner_job_count(user.pk, status=JobStatus.QUEUED) == 2
    assert owner_job_count(user.pk, status=JobStatus.FAILED, job_type="tts") == 2

    assert owner_counts_fold(above=1000) is False  # few rows appended: left alone
    assert owner_counts_fold(above=0) is True
    assert_counts_match()
    assert not JobOwnerCount.objects.filter(folded=False).exists()
    assert JobOwnerCount.objects.count() == len(owner_truth()) == 3  # one row per key

    Job.objects.filter(owner=user, status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED)
    assert owner_counts_fold(above=0) is True  # the touched keys only
    assert JobOwnerCount.objects.count() == 3  # queued went to zero: gone; cancelled came
    user.delete()  # cascades to the jobs: their -1s
    owner_counts_fold(above=0)
    assert_counts_match()
    assert JobOwnerCount.objects.count() == 0
