"""What the prototype import commands (import_jobs, import_costs) share: a file argument and
--dry-run, the owner lookup, reading with clear errors, progress on stderr and the summary."""

from collections.abc import Callable
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs.legacy_common import LegacyFormatError
from jobs.management.output import Progress, write_import_summary


def owner_or_error(username):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--owner: no user named '{username}'")
    return user


class LegacyImportCommand(BaseCommand):
    """A command importing one legacy file: a subclass reads it; `importer` imports the rows."""

    path_help = "the file to import"
    noun = "row(s)"  # what the summary counts
    # (rows, *, owner, dry_run, on_row, **what read() adds) -> the report of the import
    importer: Callable[..., object]

    def add_import_arguments(self, parser) -> None:
        """The command's own options, --owner among them (between the path and --dry-run)."""

    def read(self, path: Path, **options) -> tuple[str, list, dict]:
        """(the line saying what was read, its rows, more keyword arguments for `importer`);
        LegacyFormatError when the file cannot be read."""
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help=self.path_help)
        self.add_import_arguments(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be imported; write nothing"
        )

    def handle(self, *args, path, owner, dry_run, **options):
        if not path.is_file():
            raise CommandError(f"'{path}' is not a file")
        owner = owner_or_error(owner)
        try:
            heading, rows, more = self.read(path, **options)
        except (LegacyFormatError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        self.stdout.write(heading)
        progress = Progress(self.stderr, self.__module__.rpartition(".")[2], len(rows))
        report = self.importer(rows, owner=owner, dry_run=dry_run, on_row=progress.step, **more)
        write_import_summary(self.stdout, report, noun=self.noun, dry_run=dry_run)
