"""`manage.py costs_report`: paid-API spend per service, user and month, as a table or CSV."""

import csv
import io
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from jobs import cost_reports
from jobs.costs import money


class Command(BaseCommand):
    help = (
        "Totals of the recorded paid-API costs (USD, exact decimal sums) grouped by month, user "
        "and/or service, as an aligned table or CSV, with a TOTAL line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", metavar="YYYY-MM", help="only this calendar month")
        parser.add_argument(
            "--by",
            default="month,user,service",
            help="comma-separated grouping: any of month, user, service (default: all three)",
        )
        parser.add_argument("--csv", action="store_true", help="CSV instead of a table")
        parser.add_argument("--output", type=Path, metavar="PATH", help="write to a file")

    def handle(self, *args, month, by, csv, output, **options):
        try:
            dims = cost_reports.parse_dimensions(by)
            if month:
                cost_reports.parse_month(month)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        rows = cost_reports.costs_summarize(by=dims, month=month)
        text = (_csv if csv else _table)(dims, rows)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc}") from None
        self.stdout.write(f"wrote {len(rows)} row(s) to {output}")


def _lines(dims, rows) -> list[list[str]]:
    header = [*dims, "entries", "cost_usd"]
    body = [[*row.key, str(row.entries), str(row.cost_usd)] for row in rows]
    total = money(sum((row.cost_usd for row in rows), Decimal(0)))
    blanks = [""] * (len(dims) - 1)
    footer = ["TOTAL", *blanks, str(sum(row.entries for row in rows)), str(total)]
    return [header, *body, footer]


def _csv(dims, rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(_lines(dims, rows))
    return buffer.getvalue()


def _table(dims, rows) -> str:
    lines = _lines(dims, rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    numeric = len(dims)  # the entries and cost columns are right-aligned

    def fmt(line):
        cells = [
            cell.rjust(width) if i >= numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([fmt(lines[0]), rule, *map(fmt, lines[1:-1]), rule, fmt(lines[-1])]) + "\n"
