"""Cost and usage totals: the one place that sums `CostEntry` columns (money, units, audio
seconds), exactly, on every database.

SQLite keeps a decimal column as a float (REAL) and its SUM is floating point; Django then
reads a sum with 15 significant digits, so a large total loses its last decimals. Each amount is
therefore summed as a whole number of millionths of a dollar (the column's precision): every
row is exact as an integer (at most 12 digits), and integer sums are exact on SQLite and
PostgreSQL alike. Units and audio seconds are summed the same way, in thousandths. Months and days are calendar ones in the current time zone.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import BigIntegerField, Count, F, Sum
from django.db.models.functions import Cast, Round, TruncDate, TruncHour, TruncMinute, TruncMonth

from jobs.models import CostEntry, CostSum

PLACES = CostEntry._meta.get_field("cost_usd").decimal_places
MONEY = Decimal(1).scaleb(-PLACES)  # 0.000001: every amount of money is shown to this
QUANTITY_PLACES = CostEntry._meta.get_field("units").decimal_places  # audio_seconds: the same


def _units(field: str, places: int = PLACES):
    """A decimal column as a whole number of its smallest step (millionths of a dollar)."""
    return Cast(Round(F(field) * 10**places), BigIntegerField())


_UNITS = _units("cost_usd")

# What totals can be grouped by: a name -> the value of an entry it groups on.
GROUPS = {
    "service": F("service"),
    "user": F("owner__username"),  # None: no owner
    "month": TruncMonth("created_at"),  # an aware datetime, the month's first instant
    "day": TruncDate("created_at"),  # a date
    "hour": TruncHour("created_at"),  # an aware datetime, the hour's first instant
    "minute": TruncMinute("created_at"),  # an aware datetime, the minute's first instant
}


def money(value) -> Decimal:
    """An amount (a Decimal, int, str, or None for nothing) at the money precision."""
    return Decimal(value or 0).quantize(MONEY)


def _usd(units) -> Decimal:
    # PostgreSQL answers a bigint SUM as numeric (a Decimal), SQLite as an int: both are exact.
    return money(Decimal(units or 0).scaleb(-PLACES))


@dataclass(frozen=True)
class CostTotal:
    key: tuple  # one value per grouping, in the order asked
    entries: int
    cost_usd: Decimal


def cost_total(entries, *, field: str = "cost_usd") -> Decimal:
    """The exact total of a money column (a CostEntry's cost, a Job's reservation...) over a
    queryset (0 when empty)."""
    return _usd(entries.aggregate(units=Sum(_units(field)))["units"])


def cost_totals(entries, by: Sequence[str]) -> list[CostTotal]:
    """Exact totals of a CostEntry queryset per distinct value of `by` (names of GROUPS), in no
    particular order; one query."""
    names = {f"group_{name}": GROUPS[name] for name in by}
    rows = (
        entries.order_by()
        .annotate(**names)
        .values(*names)
        .annotate(units=Sum(_UNITS), entries=Count("id"))
    )
    return [
        CostTotal(tuple(row[name] for name in names), row["entries"], _usd(row["units"]))
        for row in rows
    ]


@dataclass(frozen=True)
class UsageTotal:
    key: tuple  # one value per grouping, in the order asked
    entries: int
    units: dict[str, Decimal]  # unit name ("characters", "frames"...) -> units used
    audio_seconds: Decimal | None  # None: no entry of the group recorded audio


def _quantity(units) -> Decimal:
    return Decimal(units or 0).scaleb(-QUANTITY_PLACES)


def usage_totals(entries, by: Sequence[str]) -> list[UsageTotal]:
    """What was used per distinct value of `by` (names of GROUPS): entries, units per unit
    name, seconds of audio; exact, in no particular order; one query."""
    names = {f"group_{name}": GROUPS[name] for name in by}
    rows = (
        entries.order_by()
        .annotate(**names)
        .values(*names, "unit_name")
        .annotate(
            units=Sum(_units("units", QUANTITY_PLACES)),
            seconds=Sum(_units("audio_seconds", QUANTITY_PLACES)),
            entries=Count("id"),
        )
    )
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[name] for name in names)
        group = groups.setdefault(key, {"entries": 0, "units": {}, "seconds": None})
        group["entries"] += row["entries"]
        group["units"][row["unit_name"]] = _quantity(row["units"])
        if row["seconds"] is not None:
            group["seconds"] = (group["seconds"] or Decimal(0)) + _quantity(row["seconds"])
    return [UsageTotal(key, g["entries"], g["units"], g["seconds"]) for key, g in groups.items()]


def _usd(micros) -> Decimal:
    return money(Decimal(micros or 0).scaleb(-PLACES))


def all_time_spend() -> Decimal:
    """Every cost entry's cost, summed exactly (millionths of a dollar, as jobs.costs does)."""
    return _usd(CostSum.objects.aggregate(total=Sum("micros"))["total"])


def spend_by_service() -> dict[str, Decimal]:
    """{service: all-time spend} of the services with cost entries."""
    rows = CostSum.objects.values_list("service").annotate(
        micros=Sum("micros"), count=Sum("entries")
    )
    return {service: _usd(micros) for service, micros, count in rows.order_by() if count}
