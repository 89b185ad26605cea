"""costs_report: exact Decimal totals per month, user and service, as a table or CSV."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from jobs.models import CostEntry

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = io.StringIO()
    call_command("costs_report", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture
def entries(user, other_user):
    def add(when, owner, service, cost):
        CostEntry.objects.create(
            owner=owner,
            service=service,
            operation="op",
            units=Decimal("1"),
            unit_name="units",
            cost_usd=Decimal(cost),
            created_at=datetime(*when, tzinfo=UTC),
        )

    # 0.1 + 0.2 is 0.30000000000000004 in floats: the sums must be exact
    add((2024, 5, 1, 10), user, "elevenlabs", "0.100000")
    add((2024, 5, 31, 23, 59), user, "elevenlabs", "0.200000")
    add((2024, 5, 15), other_user, "gemini", "0.840000")
    add((2024, 6, 1, 0, 0), user, "gemini", "1.000001")
    add((2024, 6, 2), None, "openai", "0.006000")


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_totals_by_month_user_service(entries):
    rows = parse_csv(run("--csv"))
    assert rows == [
        ["month", "user", "service", "entries", "cost_usd"],
        ["2024-05", "alice", "elevenlabs", "2", "0.300000"],
        ["2024-05", "bob", "gemini", "1", "0.840000"],
        ["2024-06", "(no owner)", "openai", "1", "0.006000"],
        ["2024-06", "alice", "gemini", "1", "1.000001"],
        ["TOTAL", "", "", "5", "2.146001"],
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--by", "service"],
            [["elevenlabs", "2", "0.300000"], ["gemini", "2", "1.840001"],
             ["openai", "1", "0.006000"], ["TOTAL", "5", "2.146001"]],
        ),
        (
            ["--by", "user"],
            [["(no owner)", "1", "0.006000"], ["alice", "3", "1.300001"],
             ["bob", "1", "0.840000"], ["TOTAL", "5", "2.146001"]],
        ),
        (
            ["--by", "month", "--month", "2024-05"],
            [["2024-05", "3", "1.140000"], ["TOTAL", "3", "1.140000"]],
        ),
        (
            ["--by", "service,month", "--month", "2024-06"],
            [["gemini", "2024-06", "1", "1.000001"], ["openai", "2024-06", "1", "0.006000"],
             ["TOTAL", "", "2", "1.006001"]],
        ),
        (["--by", "service", "--month", "2023-01"], [["TOTAL", "0", "0.000000"]]),
    ],
)  # fmt: skip
def test_grouping_and_month_filter(entries, args, expected):
    assert parse_csv(run("--csv", *args))[1:] == expected


def test_aligned_table(entries):
    lines = run("--by", "user,service").splitlines()
    assert lines[0].split() == ["user", "service", "entries", "cost_usd"]
    assert set(lines[1]) == {"-", " "} and lines[-2] == lines[1]
    assert lines[-1].split() == ["TOTAL", "5", "2.146001"]
    # the numbers are right-aligned: every cost ends in the same column
    body = lines[2:-2]
    assert len(body) == 4 and len({len(line) for line in body}) == 1
    assert body[0].split() == ["(no", "owner)", "openai", "1", "0.006000"]


def test_output_file(entries, tmp_path):
    target = tmp_path / "costs.csv"
    out = run("--csv", "--by", "service", "--output", target)
    assert out == f"wrote 3 row(s) to {target}\n"
    assert parse_csv(target.read_text())[-1] == ["TOTAL", "5", "2.146001"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2024-13"], "month must be YYYY-MM"),
        (["--month", "May"], "month must be YYYY-MM"),
        (["--by", "project"], "--by takes"),
        (["--by", "user,user"], "--by takes"),
        (["--output", "/nonexistent-dir/x.csv"], "cannot write"),
    ],
)
def test_bad_options_are_clear_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
