"""The production examples (deploy/, docs/production.md) hold real commands: every `manage.py up`
they run is parsed by `up` itself and checked with `--check` against the test database and Redis
(the processes it would start), the systemd units pass `systemd-analyze verify`, and every setting
they name is one the product (or the named server) reads."""

import re
import shlex
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection

ROOT = Path(settings.BASE_DIR)
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / "editfactory.env.example"
PRODUCTION_DOC = ROOT / "docs" / "production.md"
# Settings read by another program than ours: uvicorn (started by `up`), the postgres image.
FOREIGN_SETTINGS = {"FORWARDED_ALLOW_IPS", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}

pytestmark = pytest.mark.django_db


def unit_entries(path: Path) -> dict[str, list[str]]:
    """A systemd unit's `Key=value` lines (keys may repeat), comments skipped."""
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def up_arguments(argv: list[str]) -> list[str]:
    """The arguments after `manage.py up`."""
    assert "manage.py" in argv, argv
    rest = argv[argv.index("manage.py") + 1 :]
    assert rest[0] == "up", argv
    return rest[1:]


def check_up(arguments: list[str], settings_fixture) -> str:
    """`up ARGUMENTS --check` here: this test's database and Redis stand in for the shared ones
    (on the SQLite run, the hosts are said to be on one machine)."""
    settings_fixture.EMBEDDED_REDIS = False
    extra = ["--one-machine"] if connection.vendor == "sqlite" else []
    out = StringIO()
    call_command("up", *arguments, *extra, "--check", stdout=out)
    return out.getvalue()


def started(output: str) -> list[str]:
    """The process names `up --check` lists."""
    return re.findall(r"^  ([\w+-]+): ", output, re.MULTILINE)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_systemd_unit_starts_a_role_that_checks_out(unit, settings):
    entries = unit_entries(unit)
    (exec_start,) = entries["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/srv/editfactory/.venv/bin/python" and entries["KillMode"] == ["mixed"]
    arguments = up_arguments(argv)
    role = arguments[arguments.index("--role") + 1]
    assert unit.name == f"editfactory-{role}.service"
    output = check_up(arguments, settings)
    assert f"up --role {role} would start" in output
    expected = {"web": ["web", "maintenance"], "worker": ["maintenance", "worker"]}[role]
    kinds = list(dict.fromkeys(name.split("-")[0] for name in started(output)))  # web-1, web-2…
    assert kinds == expected
    if role == "worker":
        assert started(output)[1:] == ["worker-renders-1", "worker-renders-2", "worker-light-1", "worker-light-2"]  # fmt: skip


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_systemd_unit_passes_systemd_analyze_verify(unit, tmp_path):
    """systemd's own parser; the venv's python stands in for the install path (verify wants
    ExecStart's program to exist)."""
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/srv/editfactory/.venv/bin/python", sys.executable))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in done.stderr.splitlines() if unit.name in line]
    assert done.returncode == 0 and complaints == [], done.stderr


@pytest.mark.parametrize("service", ["web", "worker"])
def test_each_compose_service_starts_a_role_that_checks_out(service, settings):
    spec = compose()["services"][service]
    arguments = up_arguments(spec["command"])
    assert arguments[arguments.index("--role") + 1] == service
    output = check_up(arguments, settings)
    assert f"up --role {service} would start" in output
    assert any(name.split("-")[0] == "web" for name in started(output)) is (service == "web")
    assert any(name.startswith("worker-") for name in started(output)) is (service == "worker")


def test_compose_builds_the_image_from_files_that_exist():
    spec = compose()
    for service in ("web", "worker"):
        build = spec["services"][service]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve().is_file()
        assert spec["services"][service]["env_file"] == "editfactory.env"  # from the example
    assert ENV_EXAMPLE.is_file()
    redis = spec["services"]["redis"]["command"]
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"


def _product_source() -> str:
    return "\n".join(
        path.read_text() for package in ("editfactory", "jobs", "core", "media_pipeline")
        for path in (ROOT / package).rglob("*.py")
    )  # fmt: skip


def test_every_setting_the_examples_name_is_read_by_the_product():
    named = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    for service in compose()["services"].values():
        named |= set(service.get("environment") or {})
    for unit in UNITS:
        named |= {v.split("=", 1)[0] for v in unit_entries(unit).get("Environment", [])}
    source = _product_source()
    unknown = sorted(n for n in named - FOREIGN_SETTINGS if f'"{n}"' not in source)
    assert unknown == [] and "DATABASE_URL" in named and "EF_DATA_DIR" in named


def test_the_production_page_runs_only_commands_that_check_out(settings):
    commands = re.findall(r"^(?:uv run )?(?:python )?manage\.py up .*$", PRODUCTION_DOC.read_text(), re.MULTILINE)  # fmt: skip
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command.split("#")[0])
        output = check_up(up_arguments(argv), settings)
        assert "would start (--check: nothing started):" in output, command
