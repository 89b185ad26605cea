"""`manage.py import_costs PATH`: bring the prototype's JSON cost log into CostEntry rows, once."""

from jobs import legacy_costs
from jobs.management.legacy import LegacyImportCommand


class Command(LegacyImportCommand):
    help = (
        'Import the prototype\'s cost log (a JSON list of entries, or {"entries": [...]}, each '
        "with timestamp, job_id, service, operation, input_units, cost_usd, details) as cost "
        "entries. An entry is linked to its job when that job was imported (run import_jobs "
        "first); the owner is --owner or the linked job's. Idempotent (each entry's SHA-256 is "
        "kept in details.legacy_key); malformed entries are skipped with their reason."
    )
    path_help = "the cost log JSON file"
    noun = "cost entr(ies)"
    importer = staticmethod(legacy_costs.legacy_costs_import)

    def add_import_arguments(self, parser):
        parser.add_argument(
            "--owner", help="username owning every imported entry (default: the linked job's)"
        )

    def read(self, path, **options):
        rows = legacy_costs.read_cost_log(path)
        return f"{path.name}: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}", rows, {}
