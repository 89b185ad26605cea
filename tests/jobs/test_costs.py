"""jobs.costs: exact cost totals (whole and grouped) on the real database, SQLite or PostgreSQL."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from jobs.costs import MONEY, cost_total, cost_totals, money
from jobs.models import CostEntry

pytestmark = pytest.mark.django_db

# The largest amount a cost entry holds. 1001 of them total 1000999999.998999: 16 significant
# digits, more than a float sum read back by Django's SQLite backend (15 digits) keeps.
LARGEST = "999999.999999"
MANY = 1001


def _entries(owner, service, usd, *, count=1, at=datetime(2024, 5, 31, 23, 59, tzinfo=UTC)):
    CostEntry.objects.bulk_create(
        CostEntry(
            owner=owner, service=service, operation="op", units=1, unit_name="units",
            cost_usd=Decimal(usd), created_at=at,
        )
        for _ in range(count)
    )  # fmt: skip


def test_total_is_exact_past_float_precision(user):
    _entries(user, "gemini", LARGEST, count=MANY)
    _entries(user, "gemini", "0.000001")
    assert str(cost_total(CostEntry.objects.all())) == "1000999999.999000"
    assert str(cost_total(CostEntry.objects.filter(cost_usd__gt=1))) == "1000999999.998999"


def test_totals_grouped_by_every_dimension(user, other_user):
    _entries(user, "elevenlabs", "0.100000")
    _entries(user, "elevenlabs", "0.200000", at=datetime(2024, 5, 1, tzinfo=UTC))
    _entries(other_user, "gemini", LARGEST, count=MANY)
    _entries(None, "gemini", "0.000001", at=datetime(2024, 6, 1, tzinfo=UTC))
    by = ["user", "service", "month", "day"]
    got = {t.key: (t.entries, str(t.cost_usd)) for t in cost_totals(CostEntry.objects, by)}
    assert {(u, s, m.strftime("%Y-%m-%d %H:%M %Z"), d): n for (u, s, m, d), n in got.items()} == {
        ("alice", "elevenlabs", "2024-05-01 00:00 UTC", date(2024, 5, 31)): (1, "0.100000"),
        ("alice", "elevenlabs", "2024-05-01 00:00 UTC", date(2024, 5, 1)): (1, "0.200000"),
        ("bob", "gemini", "2024-05-01 00:00 UTC", date(2024, 5, 31)): (MANY, "1000999999.998999"),
        (None, "gemini", "2024-06-01 00:00 UTC", date(2024, 6, 1)): (1, "0.000001"),
    }
    by_service = {t.key: str(t.cost_usd) for t in cost_totals(CostEntry.objects, ["service"])}
    assert by_service == {("elevenlabs",): "0.300000", ("gemini",): "1000999999.999000"}


def test_nothing_totals_zero_at_the_money_precision():
    assert str(cost_total(CostEntry.objects.all())) == "0.000000"
    assert cost_totals(CostEntry.objects.all(), ["service"]) == []
    assert MONEY == Decimal("0.000001") and str(money(None)) == "0.000000"
