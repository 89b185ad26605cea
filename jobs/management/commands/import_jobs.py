"""`manage.py import_jobs PATH`: bring the FastAPI prototype's jobs into the engine, once."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs import legacy_import
from jobs.management.output import Progress, write_import_summary


def owner_or_error(username):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--owner: no user named '{username}'")
    return user


class Command(BaseCommand):
    help = (
        "Import the prototype's job records: a JSON dump of its in-memory store "
        "({job_id: job}), a JSON or CSV export of its Supabase `jobs` table, or a JSON list of "
        "jobs. Idempotent: a job already imported (same legacy id) is reported, not duplicated. "
        "Statuses: pending -> cancelled (or queued and enqueued with --enqueue-pending), "
        "processing -> failed 'interrupted', completed/failed/cancelled kept; unknown statuses "
        "and malformed rows are skipped with their row number and reason. Terminal jobs keep "
        "their timestamps, so retention (EF_JOB_RETENTION_DAYS) counts from when they ended: "
        "old ones are deleted by the next cleanup_jobs."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="the file to import")
        parser.add_argument(
            "--format",
            choices=legacy_import.FORMATS,
            default="auto",
            help="auto (default): .csv is a Supabase CSV export; a JSON object is a memory-store "
            "dump; a JSON list is a Supabase export when its rows have 'id' and 'data', else a "
            "list of job dicts",
        )
        parser.add_argument("--owner", help="username owning the imported jobs (default: none)")
        parser.add_argument(
            "--enqueue-pending",
            action="store_true",
            help="import pending jobs as queued and enqueue them (only those whose type exists "
            "here and whose params are valid; the others are imported failed)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be imported; write nothing"
        )

    def handle(self, *args, path, format, owner, enqueue_pending, dry_run, **options):
        if not path.is_file():
            raise CommandError(f"'{path}' is not a file")
        owner = owner_or_error(owner)
        try:
            source, rows = legacy_import.read_jobs_file(path, format)
        except (legacy_import.LegacyFormatError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        self.stdout.write(f"{path.name}: {len(rows)} row(s), source '{source}'")
        progress = Progress(self.stderr, "import_jobs", len(rows))
        report = legacy_import.legacy_jobs_import(
            rows,
            source=source,
            owner=owner,
            enqueue_pending=enqueue_pending,
            dry_run=dry_run,
            on_row=progress.step,
        )
        write_import_summary(self.stdout, report, noun="job(s)", dry_run=dry_run)
