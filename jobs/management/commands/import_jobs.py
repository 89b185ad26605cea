"""`manage.py import_jobs PATH`: bring the FastAPI prototype's jobs into the engine, once."""

from jobs import legacy_import, legacy_jobs
from jobs.management.legacy import LegacyImportCommand


class Command(LegacyImportCommand):
    help = (
        "Import the prototype's job records: a JSON dump of its in-memory store "
        "({job_id: job}), a JSON or CSV export of its Supabase `jobs` table, or a JSON list of "
        "jobs. Idempotent: a job already imported (same legacy id) is reported, not duplicated. "
        "Statuses: pending -> cancelled (or queued and enqueued with --enqueue-pending), "
        "processing -> failed 'interrupted', completed/failed/cancelled kept; unknown statuses "
        "and malformed rows are skipped with their row number and reason. Imported jobs are "
        "history: retention keeps them unless EF_EXPIRE_IMPORTED_JOBS=1 (then their age counts "
        "from when they ended, under EF_JOB_RETENTION_DAYS at cleanup time). A job imported "
        "before and deleted here since is not brought back without --restore-deleted. Cost "
        "entries imported before their jobs are linked to them."
    )
    noun = "job(s)"
    importer = staticmethod(legacy_import.legacy_jobs_import)

    def add_import_arguments(self, parser):
        parser.add_argument(
            "--format",
            choices=legacy_jobs.FORMATS,
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
            "--restore-deleted",
            action="store_true",
            help="import again the jobs imported before and deleted here since (by cleanup or "
            "an operator); without it they are counted and left out",
        )

    def read(self, path, *, format, enqueue_pending, restore_deleted, **options):
        source, rows = legacy_jobs.read_jobs_file(path, format)
        heading = f"{path.name}: {len(rows)} row(s), source '{source}'"
        more = {"enqueue_pending": enqueue_pending, "restore_deleted": restore_deleted}
        return heading, rows, {"source": source, **more}
