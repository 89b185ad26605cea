"""The Library pages' routes are old paths: deprecated in the frontend API's OpenAPI document,
and each named successor is a live /api/v1 route for the same method."""

import re

import pytest

import editfactory.urls  # noqa: F401 - loading the URLconf registers the old paths
from core import deprecation
from tests.frontend.library_fixtures import BASE

pytestmark = pytest.mark.django_db
PAGES = ("/library/", "/segments/", "/postiz/", "/files/")


def _ours():
    return [
        old
        for old in deprecation.registered()
        if old.path.startswith(BASE) and old.path[len(BASE) :].startswith(PAGES)
    ]


def test_every_library_route_is_deprecated_in_the_openapi_document(api):
    paths = api.get(f"{BASE}/openapi.json").json()["paths"]
    ours = {p: ops for p, ops in paths.items() if p[len(BASE) :].startswith(PAGES)}
    assert len(ours) >= 25
    for path, operations in ours.items():
        for method, operation in operations.items():
            assert operation.get("deprecated") is True, (method, path)
            assert (
                "Successor" in operation["description"] or "Deprecated" in operation["description"]
            ), (method, path)


@pytest.fixture(scope="module")
def v1_operations(django_db_blocker):
    """(METHOD, path with its parameters as {}) of every /api/v1 operation."""
    from django.test import Client

    with django_db_blocker.unblock():
        paths = Client().get("/api/v1/openapi.json").json()["paths"]
    return {(m.upper(), re.sub(r"\{[^}]+\}", "{}", p)) for p, ops in paths.items() for m in ops}


def test_only_the_files_postiz_and_reset_have_no_successor():
    assert sorted(old.key for old in _ours() if not old.successor_path) == [
        f"GET {BASE}/files/{{token:path}}",
        f"GET {BASE}/library/files/{{token:path}}",
        f"GET {BASE}/postiz/integrations",
        f"PATCH {BASE}/library/projects/{{project_id}}",
        f"POST {BASE}/postiz/bulk-publish",
        f"POST {BASE}/postiz/publish",
        f"POST {BASE}/postiz/upload",
    ]


@pytest.mark.parametrize(
    "old", [old for old in _ours() if old.successor_path], ids=lambda old: old.key
)
def test_each_successor_is_a_live_v1_route(old, v1_operations):
    wanted = (old.successor_method, re.sub(r"\{[^}]+\}", "{}", old.successor_path))
    assert wanted in v1_operations, f"{old.key}: successor {old.successor} is not a v1 route"
