"""Every answer under /api/ is JSON, errors included, with DEBUG on or off."""

import pytest

pytestmark = pytest.mark.django_db


def _json_error(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"] == body["error"]["message"]
    return body


@pytest.mark.parametrize("debug", [False, True])
def test_a_trailing_slash_or_unknown_path_is_a_json_404(api, settings, debug):
    settings.DEBUG = debug
    body = _json_error(api.get("/api/v1/jobs/"), 404)
    assert "no trailing slash" in body["detail"] and "urlpatterns" not in str(body)
    _json_error(api.get("/api/v1/no-such-thing"), 404)
    _json_error(api.get("/api/frontend/v1/no-such-thing"), 404)


def test_an_unknown_method_is_a_json_405_with_allow(api):
    response = api.generic("PROPFIND", "/api/v1/jobs")
    body = _json_error(response, 405)
    assert "PROPFIND is not allowed" in body["detail"] and response["Allow"]


def test_head_of_a_get_route_is_answered(api):
    response = api.head("/api/v1/library/projects")
    assert response.status_code == 200 and response.content == b""


def test_up_runs_with_debug_off_unless_asked(monkeypatch):
    import subprocess
    import sys

    code = "from django.conf import settings; import django; django.setup(); print(settings.DEBUG)"
    base = {"DJANGO_SETTINGS_MODULE": "editfactory.settings"}
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DEBUG",)}
    off = subprocess.run(
        [sys.executable, "-c", code], env={**env, **base}, capture_output=True, text=True
    )
    on = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **base, "DEBUG": "1"},
        capture_output=True,
        text=True,
    )
    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")
