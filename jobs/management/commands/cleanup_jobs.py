"""`manage.py cleanup_jobs`: retention cleanup, plus old jobs by age/status and orphan files."""

from django.core.management.base import BaseCommand, CommandError

from jobs import cleanup, services
from jobs.management.output import Progress
from jobs.status import ACTIVE, TERMINAL, JobStatus


class Command(BaseCommand):
    help = (
        "Delete jobs with exactly their files, and orphan files. Without options: finished jobs "
        "whose retention (EF_JOB_RETENTION_DAYS) is over (imported jobs only with "
        "EF_EXPIRE_IMPORTED_JOBS=1). --older-than-days N: finished jobs (of the --status given; "
        "active ones are refused; imported ones with --include-imported) that ended more than N "
        "days ago. "
        "--orphans-hours H: files in the media storage's jobs/ tree that no job file or library "
        "row references, and temp-dir entries (per-job dirs of jobs not processing, stale "
        "uploads), untouched for H hours. --dry-run lists what would go."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expired",
            action="store_true",
            help="delete jobs past their retention (the default when no other option is given)",
        )
        parser.add_argument(
            "--older-than-days", type=float, metavar="N", help="delete jobs that ended N days ago"
        )
        parser.add_argument(
            "--status",
            action="append",
            choices=sorted(JobStatus.values),
            help="with --older-than-days: only these statuses (repeatable; default: "
            "completed, failed, cancelled; queued/processing are refused)",
        )
        parser.add_argument(
            "--include-imported",
            action="store_true",
            help="with --older-than-days: also jobs brought in by import_jobs (kept otherwise)",
        )
        parser.add_argument(
            "--orphans-hours",
            type=float,
            metavar="H",
            help="delete unreferenced files untouched for H hours",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be deleted; delete nothing"
        )

    def handle(
        self, *args, expired, older_than_days, status, include_imported, orphans_hours, dry_run, **_
    ):
        self._check(older_than_days, status, orphans_hours)
        if include_imported and older_than_days is None:
            raise CommandError("--include-imported needs --older-than-days")
        if expired or (older_than_days is None and orphans_hours is None):
            self._expired(dry_run)
        if older_than_days is not None:
            self._old(older_than_days, status, include_imported, dry_run)
        if orphans_hours is not None:
            self._orphans(orphans_hours, dry_run)
        if dry_run:
            self.stdout.write("dry run: nothing was deleted")

    def _check(self, older_than_days, status, orphans_hours):
        if status and older_than_days is None:
            raise CommandError("--status needs --older-than-days")
        active = sorted(set(status or ()) & ACTIVE)
        if active:
            raise CommandError(
                f"refusing to delete {', '.join(active)} jobs: cancel them first "
                f"(--status takes {', '.join(sorted(TERMINAL))})"
            )
        for name, value in (
            ("--older-than-days", older_than_days),
            ("--orphans-hours", orphans_hours),
        ):
            if value is not None and value < 0:
                raise CommandError(f"{name} must be >= 0")

    def _expired(self, dry_run):
        if dry_run:
            self._list(
                "expired job(s)",
                services.jobs_select_old(**services.retention_rule()),
            )
            return
        counts = services.jobs_cleanup_expired()
        self.stdout.write(
            f"cleanup: {counts['jobs']} expired job(s) and {counts['files']} file(s) deleted"
        )

    def _old(self, days, statuses, include_imported, dry_run):
        jobs = services.jobs_select_old(
            older_than_days=days, statuses=statuses, include_imported=include_imported
        )
        what = f"job(s) older than {days:g} day(s) ({', '.join(sorted(set(statuses or TERMINAL)))})"
        if not include_imported:
            what += ", imported ones kept"
        if dry_run:
            self._list(what, jobs)
            return
        jobs = list(jobs)
        progress = Progress(self.stderr, "cleanup_jobs", len(jobs), every=100)
        counts = services.jobs_delete(jobs=jobs, on_job=progress.step)
        self.stdout.write(f"cleanup: {counts['jobs']} {what} and {counts['files']} file(s) deleted")

    def _list(self, what, jobs):
        jobs = list(jobs.prefetch_related("files"))
        for job in jobs:
            files = sum(1 for f in job.files.all() if f.role != f.Role.SHARED)
            self.stdout.write(
                f"would delete job {job.id} ({job.job_type}, {job.status}), {files} file(s)"
            )
        self.stdout.write(f"cleanup: would delete {len(jobs)} {what}")

    def _orphans(self, hours, dry_run):
        orphans = cleanup.orphans_find(older_than_hours=hours)
        if dry_run:
            for orphan in orphans:
                self.stdout.write(
                    f"would delete {orphan.where} {orphan.name} ({orphan.size} bytes)"
                )
            total = sum(orphan.size for orphan in orphans)
            self.stdout.write(f"cleanup: would delete {len(orphans)} orphan(s), {total} bytes")
            return
        progress = Progress(self.stderr, "cleanup_jobs orphans", len(orphans), every=100)
        counts = cleanup.orphans_delete(orphans, on_file=progress.step)
        self.stdout.write(
            f"cleanup: {counts['files']} orphan(s) deleted, {counts['bytes']} bytes freed"
        )
