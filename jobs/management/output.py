"""Output helpers of the operator's management commands: a progress counter (no extra
dependency) and the summary of an import."""

from django.core.management.base import CommandError


class Progress:
    """A line on stderr every `every` items and at the end, so stdout stays the report."""

    def __init__(self, stream, what: str, total: int, *, every: int = 200):
        self.stream, self.what, self.total, self.every = stream, what, total, max(1, every)
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if self.done % self.every == 0 or (self.done == self.total and self.total >= self.every):
            self.stream.write(f"{self.what}: {self.done}/{self.total}")


def write_import_summary(stdout, report, *, noun: str, dry_run: bool) -> None:
    """Counts, the reason of every skipped or failed row, and the check that every row read
    is accounted for (a mismatch is a bug: the command fails loudly)."""
    verb = "would import" if dry_run else "imported"
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.imported.items()))
    total = sum(report.imported.values())
    stdout.write(f"{verb}: {total} {noun}" + (f" ({kinds})" if kinds else ""))
    if getattr(report, "enqueued", 0):
        stdout.write(f"{'would enqueue' if dry_run else 'enqueued'}: {report.enqueued}")
    stdout.write(f"already imported: {report.already}")
    if report.deleted_earlier:
        stdout.write(
            f"deleted earlier, not brought back: {report.deleted_earlier} "
            "(imported before and deleted here since; --restore-deleted imports them again)"
        )
    stdout.write(f"skipped: {len(report.skipped)}")
    for row, reason in report.skipped:
        stdout.write(f"  {row}: {reason}")
    stdout.write(f"failed: {len(report.failed)}")
    for row, reason in report.failed:
        stdout.write(f"  {row}: {reason}")
    deleted = f" + {report.deleted_earlier} deleted earlier" if report.deleted_earlier else ""
    line = (
        f"read {report.read} = {total} {verb} + {report.already} already imported{deleted}"
        f" + {len(report.skipped)} skipped + {len(report.failed)} failed"
    )
    if report.accounted != report.read:
        raise CommandError(f"count mismatch: {line}")
    stdout.write(f"check: {line}")
    for note in report.notes:
        stdout.write(note)
    if dry_run:
        stdout.write("dry run: nothing was written")
