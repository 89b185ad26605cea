"""`manage.py import_costs PATH`: bring the prototype's JSON cost log into CostEntry rows, once."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from jobs import legacy_costs
from jobs.management.commands.import_jobs import owner_or_error
from jobs.management.output import Progress, write_import_summary


class Command(BaseCommand):
    help = (
        'Import the prototype\'s cost log (a JSON list of entries, or {"entries": [...]}, each '
        "with timestamp, job_id, service, operation, input_units, cost_usd, details) as cost "
        "entries. An entry is linked to its job when that job was imported (run import_jobs "
        "first); the owner is --owner or the linked job's. Idempotent (each entry's SHA-256 is "
        "kept in details.legacy_key); malformed entries are skipped with their reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="the cost log JSON file")
        parser.add_argument(
            "--owner", help="username owning every imported entry (default: the linked job's)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be imported; write nothing"
        )

    def handle(self, *args, path, owner, dry_run, **options):
        if not path.is_file():
            raise CommandError(f"'{path}' is not a file")
        owner = owner_or_error(owner)
        try:
            rows = legacy_costs.read_cost_log(path)
        except (legacy_costs.LegacyFormatError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        self.stdout.write(f"{path.name}: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")
        progress = Progress(self.stderr, "import_costs", len(rows))
        report = legacy_costs.legacy_costs_import(
            rows, owner=owner, dry_run=dry_run, on_row=progress.step
        )
        write_import_summary(self.stdout, report, noun="cost entr(ies)", dry_run=dry_run)
