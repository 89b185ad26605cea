"""Spend totals from CostEntry rows, grouped by any of month, user and service.

Sums are done in Python with Decimal (SQLite's SUM works in floating point); a month is a
calendar month in the site's TIME_ZONE.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from jobs.models import CostEntry

DIMENSIONS = ("month", "user", "service")
NO_OWNER = "(no owner)"
CENTS = Decimal("0.000001")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class CostRow:
    key: tuple[str, ...]  # one value per grouping dimension
    entries: int
    cost_usd: Decimal


def parse_month(text: str) -> tuple[datetime, datetime]:
    """[start, end) of a "YYYY-MM" month; ValueError when it is not one."""
    match = _MONTH.match(text or "")
    if not match:
        raise ValueError(f"month must be YYYY-MM, got '{text}'")
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1)
    end = datetime(year + month // 12, month % 12 + 1, 1)
    return timezone.make_aware(start), timezone.make_aware(end)


def parse_dimensions(text: str) -> tuple[str, ...]:
    dims = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [d for d in dims if d not in DIMENSIONS]
    if not dims or unknown or len(set(dims)) != len(dims):
        raise ValueError(f"--by takes a comma-separated subset of {', '.join(DIMENSIONS)}")
    return dims


def costs_summarize(*, by=DIMENSIONS, month: str | None = None) -> list[CostRow]:
    entries = CostEntry.objects.all()
    if month:
        start, end = parse_month(month)
        entries = entries.filter(created_at__gte=start, created_at__lt=end)
    totals: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    values = entries.values_list("created_at", "owner__username", "service", "cost_usd")
    for created_at, username, service, cost in values.iterator(chunk_size=2000):
        fields = {
            "month": timezone.localtime(created_at).strftime("%Y-%m"),
            "user": username or NO_OWNER,
            "service": service,
        }
        total = totals[tuple(fields[d] for d in by)]
        total[0] += 1
        total[1] += Decimal(cost)
    return [CostRow(key, n, cost.quantize(CENTS)) for key, (n, cost) in sorted(totals.items())]
