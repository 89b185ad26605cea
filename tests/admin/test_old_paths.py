"""Deprecation made visible: the prototype's aliases in the v1 OpenAPI document (deprecated,
their successor named, the successor's contract), one log line per client, path and day with
every use counted, and the counts on the operations dashboard."""

import logging

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.deprecation import usage_by_path
from editfactory.legacy import ALIASES, API

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    return Client().get("/api/v1/openapi.json").json()


@pytest.mark.parametrize("method, legacy", sorted(ALIASES))
def test_every_alias_is_documented_as_its_successor_deprecated(openapi, method, legacy):
    successor_path = API + ALIASES[(method, legacy)]
    alias = openapi["paths"][API + legacy][method.lower()]
    successor = openapi["paths"][successor_path][method.lower()]
    assert alias["deprecated"] is True and "deprecated" not in successor
    assert alias["x-successor"] == f"{method} {successor_path}"
    assert f"Successor: `{method} {successor_path}`" in alias["description"]
    for part in ("parameters", "requestBody", "responses"):
        assert alias.get(part) == successor.get(part)
    assert alias["operationId"] != successor["operationId"]


def test_an_alias_sharing_a_path_leaves_the_other_method_alone(openapi):
    jobs = openapi["paths"]["/api/v1/jobs"]
    assert jobs["post"]["deprecated"] is True  # the prototype's main video job
    assert "deprecated" not in jobs["get"]  # the jobs list


def _uses(key: str) -> dict:
    return next(
        {"total": u.total, "last_used": u.last_used} for u in usage_by_path() if u.old.key == key
    )


def test_an_old_path_used_twice_by_one_client_logs_once_and_counts_twice(
    api, other_api, user, other_user, caplog
):
    key = "GET /api/v1/usage"
    with caplog.at_level(logging.WARNING, logger="core.deprecation"):
        first, second = api.get("/api/v1/usage"), api.get("/api/v1/usage")
        other_api.get("/api/v1/usage")
    assert first.status_code == second.status_code == 200
    assert first["Deprecation"] == "true"
    lines = [r.getMessage() for r in caplog.records if r.name == "core.deprecation"]
    assert lines == [
        f"deprecated {key} used by user {user.pk} (successor: GET /api/v1/library/usage)",
        f"deprecated {key} used by user {other_user.pk} (successor: GET /api/v1/library/usage)",
    ]
    assert _uses(key) == {"total": 3, "last_used": timezone.now().date().isoformat()}
    assert _uses("GET /api/v1/costs")["total"] == 0


def test_the_dashboard_shows_the_use_of_old_paths(api, staff_client):
    api.get("/api/v1/usage")
    api.get("/api/v1/usage")
    response = staff_client.get(reverse("ef_dashboard"))
    old_paths = response.context["old_paths"]
    assert old_paths["ok"] and old_paths["total"] == 2 and old_paths["days"] == 7
    row = old_paths["paths"][0]  # most used first
    today = timezone.now().date().isoformat()
    assert (row["method"], row["path"], row["uses"], row["last_used"]) == (
        "GET",
        "/api/v1/usage",
        2,
        today,
    )
    assert row["successor"] == "GET /api/v1/library/usage"
    assert row["per_day"][-1] == (today, 2) and len(row["per_day"]) == 7
    unused = next(p for p in old_paths["paths"] if p["path"] == "/api/v1/costs")
    assert (unused["uses"], unused["last_used"]) == (0, None)
    html = response.content.decode()
    assert 'data-old-path="GET /api/v1/usage"' in html
    assert '<td class="ef-num ef-old-path-uses">2</td>' in html
    assert "<code>GET /api/v1/library/usage</code>" in html


def test_the_dashboard_says_when_no_old_client_called(staff_client):
    response = staff_client.get(reverse("ef_dashboard"))
    assert response.context["old_paths"]["total"] == 0
    assert "no old client has called them" in response.content.decode()
