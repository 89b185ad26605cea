"""The costs report: spend totals (`jobs.costs`, exact) grouped by any of month, user and
service, as text keys; a month is a calendar month in the site's TIME_ZONE. And one user's own
spend (`user_costs`), which the usage endpoints show.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.utils import timezone

from jobs.costs import CostTotal, cost_totals, money
from jobs.models import CostEntry

DIMENSIONS = ("month", "user", "service")
NO_OWNER = "(no owner)"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


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


_LABELS = {
    "month": lambda start: timezone.localtime(start).strftime("%Y-%m"),
    "user": lambda username: username or NO_OWNER,
    "service": str,
}


def costs_summarize(*, by=DIMENSIONS, month: str | None = None) -> list[CostTotal]:
    """One row per group, its key the groups' text labels, sorted by key."""
    entries = CostEntry.objects.all()
    if month:
        start, end = parse_month(month)
        entries = entries.filter(created_at__gte=start, created_at__lt=end)
    totals: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for row in cost_totals(entries, by):
        total = totals[tuple(_LABELS[d](value) for d, value in zip(by, row.key, strict=True))]
        total[0] += row.entries
        total[1] += row.cost_usd  # exact: Decimal sums of exact totals
    return [CostTotal(key, n, cost) for key, (n, cost) in sorted(totals.items())]


# --- one user's spend (the usage endpoints, v1 and the web frontend's) ------------------------


def utc_day_start(day: date) -> datetime:
    """The first instant of a UTC calendar day (the usage endpoints' days are UTC days)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class UserCosts:
    """A user's spend, all time and today (UTC), in total and per service (exact totals)."""

    by_service: dict[str, CostTotal]  # service -> its entries and cost, all time
    today_by_service: dict[str, Decimal]  # service -> its cost today (services with spend today)

    @property
    def total_usd(self) -> Decimal:
        return money(sum(t.cost_usd for t in self.by_service.values()))

    @property
    def today_usd(self) -> Decimal:
        return money(sum(self.today_by_service.values()))

    @property
    def entries(self) -> int:
        return sum(t.entries for t in self.by_service.values())


def user_costs(user, *, now: datetime | None = None) -> UserCosts:
    """The user's own cost entries summed per service, all time and since today's UTC start
    (two queries); another user's entries never count."""
    mine = CostEntry.objects.filter(owner=user)
    today = utc_day_start((now or timezone.now()).astimezone(UTC).date())
    return UserCosts(
        by_service={t.key[0]: t for t in cost_totals(mine, ["service"])},
        today_by_service={
            t.key[0]: t.cost_usd
            for t in cost_totals(mine.filter(created_at__gte=today), ["service"])
        },
    )
