"""Deleting old jobs. One age rule everywhere (`JobQuerySet.ended_before`): a job's age counts
from when it ended. Retention (the maintenance loop), the cleanup_jobs command and the admin's
clean-up all select with `jobs_select_old` and delete with `jobs_delete`."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from jobs.services.lifecycle import job_delete
from jobs.status import ACTIVE, TERMINAL


def jobs_select_old(
    *, older_than_days: float, statuses=None, now=None, include_imported: bool = False
):
    """Terminal jobs (of `statuses`) that ended more than `older_than_days` ago, oldest first;
    imported jobs only with `include_imported`. Active statuses are refused: a running job is
    not cleanup's."""
    statuses = set(statuses or TERMINAL)
    active = statuses & ACTIVE
    if active:
        raise ValueError(f"refusing active status(es): {', '.join(sorted(active))}")
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    old = Job.objects.ended_before(cutoff).filter(status__in=statuses)
    if not include_imported:
        old = old.filter(imported=False)
    return old.order_by("created_at")


def jobs_delete(*, jobs, on_job=lambda: None) -> dict[str, int]:
    """Delete each job with exactly its files (`job_delete`); counts of jobs and files."""
    counts = {"jobs": 0, "files": 0}
    for job in jobs:
        counts["files"] += job_delete(job=job)
        counts["jobs"] += 1
        on_job()
    return counts


def jobs_cleanup_expired(*, now=None) -> dict[str, int]:
    """Retention: delete the jobs that ended more than EF_JOB_RETENTION_DAYS ago (imported ones
    only when EF_EXPIRE_IMPORTED_JOBS is set), decided now from the current settings."""
    return jobs_delete(jobs=jobs_select_old(**retention_rule(), now=now))


def retention_rule() -> dict:
    """The current settings as jobs_select_old arguments (cleanup and its dry run share them)."""
    return {
        "older_than_days": settings.JOB_RETENTION_DAYS,
        "include_imported": settings.EXPIRE_IMPORTED_JOBS,
    }
