"""Settings read from the environment, checked in a fresh process (settings load once)."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PG_URL = "postgres://someone@db.invalid:6432/edits"  # never connected to: settings only


def _database_settings(**env) -> dict:
    code = "from django.conf import settings; import json; print(json.dumps(settings.DATABASES['default']))"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "editfactory.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("pooler", "disabled"), [("", False), ("true", True), ("false", False)])
def test_ef_db_pooler_turns_server_side_cursors_off_for_pgbouncer(pooler, disabled):
    env = {"DATABASE_URL": PG_URL}
    if pooler:
        env["EF_DB_POOLER"] = pooler
    db = _database_settings(**env)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"]) == ("db.invalid", 6432)
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is disabled
