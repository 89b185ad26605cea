"""CORS for the web frontend (a Next.js app on its own origin calling the API from the browser):
its preflights pass, errors carry the headers too (or the browser hides their body), and its dev
server's origins are allowed where `manage.py up` runs outside production, nowhere else."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.test import Client

from editfactory.management.commands.up import DEV_CORS_ORIGINS, Command, child_env
from editfactory.roles import ROLES
from jobs.queues import worker_plan

pytestmark = pytest.mark.django_db(transaction=True)

FRONTEND = "http://localhost:3000"


@pytest.fixture
def frontend_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [FRONTEND]


def test_errors_carry_the_cors_headers(api, frontend_allowed):
    unauthenticated = Client().get("/api/v1/jobs", HTTP_ORIGIN=FRONTEND)
    assert unauthenticated.status_code == 401
    assert unauthenticated["Access-Control-Allow-Origin"] == FRONTEND
    invalid = api.get("/api/v1/jobs", {"status": "bogus"}, HTTP_ORIGIN=FRONTEND)
    assert invalid.status_code == 422
    assert invalid["Access-Control-Allow-Origin"] == FRONTEND
    assert invalid.json()["detail"] == invalid.json()["error"]["message"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_preflights_allow_the_frontends_methods_and_headers(client, frontend_allowed, method):
    response = client.options(
        "/api/v1/library/clips/1",
        HTTP_ORIGIN=FRONTEND,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= methods
    headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= headers


def test_a_frontend_may_send_an_idempotency_key(client, frontend_allowed):
    response = client.options(
        "/api/v1/library/audio/tts",
        HTTP_ORIGIN=FRONTEND,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert response.status_code == 200 and "idempotency-key" in headers


def test_an_origin_not_listed_gets_no_cors_headers_even_on_errors(client, frontend_allowed):
    response = client.get("/api/v1/jobs", HTTP_ORIGIN="http://localhost:3001")
    assert response.status_code == 401 and "Access-Control-Allow-Origin" not in response


def test_the_test_settings_allow_no_origin_by_default():
    assert django_settings.CORS_ALLOWED_ORIGINS == []


def test_up_gives_its_processes_the_dev_origins_outside_production_only():
    assert child_env({}, production=False)["EF_CORS_ORIGINS"] == DEV_CORS_ORIGINS
    assert "EF_CORS_ORIGINS" not in child_env({}, production=True)
    # An explicit setting wins, an empty one included (no origin at all).
    mine = {"EF_CORS_ORIGINS": "https://app.example"}
    assert child_env(mine, production=False)["EF_CORS_ORIGINS"] == "https://app.example"
    assert child_env({"EF_CORS_ORIGINS": ""}, production=False)["EF_CORS_ORIGINS"] == ""
    plan = worker_plan("1")
    env = child_env({}, production=False)
    web = Command()._children(env, ROLES["all"], "127.0.0.1", 8000, plan, 1, True)[0]
    assert web.name == "web" and web.env["EF_CORS_ORIGINS"] == DEV_CORS_ORIGINS


def _cors_settings(**env) -> dict:
    """CORS settings as a fresh process with this environment loads them."""
    code = (
        "from django.conf import settings as s; import json; "
        "print(json.dumps([s.CORS_ALLOWED_ORIGINS, s.CSRF_TRUSTED_ORIGINS]))"
    )
    base = {k: v for k, v in os.environ.items() if k not in {"EF_CORS_ORIGINS", "EF_PRODUCTION"}}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**base, "DJANGO_SETTINGS_MODULE": "editfactory.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=django_settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_settings_take_the_origins_from_the_environment_and_default_to_none(tmp_path):
    data = {"EF_DATA_DIR": str(tmp_path)}
    origins = "http://localhost:3000,http://127.0.0.1:3000"
    assert _cors_settings(**data, EF_CORS_ORIGINS=origins)[0] == origins.split(",")
    assert _cors_settings(**data, EF_CORS_ORIGINS=origins)[1] == origins.split(",")
    production = {"EF_PRODUCTION": "1", "SECRET_KEY": "x" * 50, **data}
    assert _cors_settings(**production) == [[], []]
