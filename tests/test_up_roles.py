"""`manage.py up --role web|worker` as real processes: a web host and a worker host with their own
data and temp dirs, sharing only the test database, Redis and a media dir. The web host serves
and runs no worker; the worker host runs the job created through the web host; the maintenance
loop runs on exactly one of them; a worker host that would need embedded services refuses."""

import subprocess
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from core.auth import api_token_create
from core.leases import MAINTENANCE_LEASE, lease_state
from editfactory.management.commands.up import Command as UpCommand
from editfactory.roles import ROLES, role_refusal, up_argv
from tests.conftest import descendants, wait_for
from tests.up_process import role_env, running_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


@pytest.mark.slow
def test_a_worker_host_runs_the_job_a_web_host_accepted(tmp_path, user, media):
    media_dir = tmp_path / "shared-media"
    _, token = api_token_create(user=user, name="roles")
    headers = {"Authorization": f"Bearer {token}"}
    web_env = role_env(tmp_path / "web-host", media_dir=media_dir)
    worker_env = role_env(tmp_path / "worker-host", media_dir=media_dir)
    with running_role("web", tmp_path / "web-host", env=web_env) as web:
        assert httpx.get(f"{web.base}/api/v1/ping").status_code == 200
        health = httpx.get(f"{web.base}/api/v1/health").json()
        assert health["role"] == "web" and health["workers"] == 0  # no worker anywhere yet
        assert web.worker_queues() == []
        with running_role("worker", tmp_path / "worker-host", env=worker_env) as worker:
            # The web host counts the worker host's worker from RQ's registry in Redis.
            health = wait_for(
                lambda: (h := httpx.get(f"{web.base}/api/v1/health").json())["workers"] and h,
                timeout=90, interval=0.5, message="the worker host's worker in /health",
            )  # fmt: skip
            assert health["workers"] == 1 and health["worker_hosts"] == 1
            assert health["role"] == "web" and web.worker_queues() == []
            assert worker.worker_queues() == [["renders", "light", "default"]]
            with media.video().open("rb") as fh:
                created = httpx.post(
                    f"{web.base}/api/v1/library/videos/info", headers=headers, files={"file": fh}
                ).json()
            job = wait_for(
                lambda: (j := httpx.get(web.base + created["status_url"], headers=headers).json())["status"] in ("completed", "failed") and j,
                timeout=90, interval=0.3, message="the probe job",
            )  # fmt: skip
            assert job["status"] == "completed", job
            assert job["result"]["width"] == 320
            # One maintenance loop, on one of the two hosts, holds the lease.
            holder = wait_for(lambda: lease_state(MAINTENANCE_LEASE).holder, timeout=60)
            loops = [
                pid
                for host in (web, worker)
                for pid in descendants(host.process.pid)
                if f" pid {pid} " in holder
            ]
            assert len(loops) == 1, holder
        worker_output = worker.output()  # stopped
    web_output = web.output()
    assert "Edit Factory worker host is starting (1 worker(s): renders+light: 1)." in worker_output
    assert "Admin:" not in worker_output and "Embedded Redis" not in worker_output
    assert "migrations already applied" in worker_output
    assert "Edit Factory web host is starting (1 web process(es)" in web_output
    assert "Embedded Redis" not in web_output
    for output in (web_output, worker_output):
        assert "Traceback" not in output and output.count("Edit Factory stopped.") == 1


def _refusal(argv, env) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def test_a_worker_host_without_redis_url_refuses_in_words(tmp_path):
    env = role_env(tmp_path / "worker-host", media_dir=tmp_path / "media")
    del env["REDIS_URL"]
    stderr = _refusal(up_argv("worker"), env)
    assert (
        "CommandError: --role worker shares Redis with the other hosts, and REDIS_URL is unset "
        "(the embedded Redis serves --role all only): set REDIS_URL"
    ) in stderr
    assert not (tmp_path / "worker-host" / "redis").exists()  # no embedded Redis was started


def test_a_worker_host_refuses_a_database_without_the_migrations(tmp_path):
    env = role_env(
        tmp_path / "worker-host",
        media_dir=tmp_path / "media",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        EF_ONE_MACHINE="1",
    )
    stderr = _refusal(up_argv("worker"), env)
    assert "CommandError: the database lacks " in stderr
    assert (
        "start a web host first (`up --role web` applies them) or run `manage.py migrate`" in stderr
    )


def test_split_roles_refuse_embedded_redis_and_a_private_sqlite(settings):
    settings.EMBEDDED_REDIS = True
    with pytest.raises(CommandError, match=r"^--role web shares Redis with the other hosts"):
        call_command("up", role="web")
    worker, web, everything = ROLES["worker"], ROLES["web"], ROLES["all"]
    sqlite = dict(embedded_redis=False, database_vendor="sqlite")
    assert role_refusal(worker, one_machine=False, **sqlite).startswith(
        "--role worker shares the database with the other hosts, and SQLite is a file on "
        "this machine: set DATABASE_URL to PostgreSQL"
    )
    assert role_refusal(web, one_machine=False, **sqlite).startswith("--role web shares the")
    assert role_refusal(worker, one_machine=True, **sqlite) is None  # said to be one machine
    assert (
        role_refusal(worker, one_machine=False, embedded_redis=False, database_vendor="postgresql")
        is None
    )
    assert (
        role_refusal(everything, one_machine=False, embedded_redis=True, database_vendor="sqlite")
        is None
    )


def test_a_web_role_in_production_collects_the_static_files(settings, tmp_path):
    """Production serves the admin's static files from STATIC_ROOT (servestatic, no finders):
    the web roles collect them at start; a worker host does not."""
    settings.PRODUCTION = True
    settings.STATIC_ROOT = tmp_path / "static"
    out = StringIO()
    up = UpCommand(stdout=out)
    up._prepare_database(ROLES["worker"])
    assert not settings.STATIC_ROOT.exists()
    up._prepare_database(ROLES["web"])
    assert (settings.STATIC_ROOT / "admin" / "css" / "base.css").is_file()
    assert f"Static files collected into {settings.STATIC_ROOT}." in out.getvalue()
