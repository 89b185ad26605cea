"""Run `manage.py up` as a user does, in its own data dir and process group (tests of the whole
product: tests/test_up.py, tests/test_walkthrough.py), or one host of a role (`up --role web` or
`worker`) sharing the test database and Redis with the test (tests/test_up_roles.py)."""

import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from editfactory.roles import up_argv
from tests.conftest import descendants, kill_tree, wait_for

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
# Settings of the test run that a user's `up` does not have.
_NOT_INHERITED = {"DATABASE_URL", "REDIS_URL", "EF_USE_TEST_DB", "EF_CORS_ORIGINS", "EF_PRODUCTION"}


@dataclass
class Up:
    process: subprocess.Popen
    base: str
    env: dict
    log_path: Path

    def manage(self, *args: str) -> str:
        """Run another management command against the same data dir; its stdout."""
        return subprocess.run(
            [sys.executable, MANAGE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/ping", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_up(tmp_path: Path, *, workers: int = 1, extra_env: dict | None = None):
    """`up` serving on a free port until the block ends, then stopped with Ctrl-C."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(
        EF_DATA_DIR=str(tmp_path / "data"),
        EF_ADMIN_PASSWORD="up-test-password",
        DJANGO_SETTINGS_MODULE="editfactory.settings",
        **(extra_env or {}),
    )
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, MANAGE, "up", "--port", str(port), "--workers", str(workers), "--web-workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        up = Up(process, f"http://127.0.0.1:{port}", env, log_path)
        try:
            wait_for(lambda: _ping(up.base), timeout=90, interval=0.5, message="the web server")
            yield up
        finally:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the foreground group
            process.wait(timeout=60)


# --- one host of a role ---------------------------------------------------------------------------
def shared_database_url() -> str:
    """The URL of the database this test uses (pytest-django's test database), for processes
    that must share it without the test settings' EF_USE_TEST_DB renaming."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def role_env(host_dir: Path, *, media_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of one host: its own data and temp dirs, the shared database, Redis and
    media (a shared filesystem here) and the keys every host shares (docs/production.md)."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(
        EF_DATA_DIR=str(host_dir),
        EF_MEDIA_DIR=str(media_dir),
        DATABASE_URL=shared_database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY="roles-test-secret-key-shared-by-every-host",
        EF_WEBHOOK_SECRET="roles-test-webhook-secret",
        EF_ADMIN_PASSWORD="up-test-password",
        PYTHONUNBUFFERED="1",
    )
    if connection.vendor == "sqlite":
        env["EF_ONE_MACHINE"] = "1"  # the test's SQLite file: every host is on this machine
    env.update(extra)
    return env


@dataclass
class RoleHost:
    role: str
    process: subprocess.Popen
    base: str | None  # the web server's address (web and all roles)
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the host's whole tree (up, workers, work horses, ffmpeg): a lost machine."""
        if self.process.poll() is None:
            kill_tree(self.process)

    def worker_queues(self) -> list[list[str]]:
        return worker_queues(self.process.pid)


@contextmanager
def running_role(role: str, host_dir: Path, *, env: dict[str, str], workers: str = "1"):
    """`up --role ROLE` with `env` (role_env) until the block ends, then Ctrl-C; a web role is
    serving when the block starts, a worker role has started (its workers may still be booting)."""
    with running_roles([(role, host_dir, env)], workers=workers) as (host,):
        yield host


@contextmanager
def running_roles(hosts: list[tuple[str, Path, dict[str, str]]], *, workers: str = "1"):
    """Several hosts, (role, host_dir, env) each, started at once (on a loaded machine each
    takes many seconds to boot), ready as running_role says, all stopped when the block ends."""
    started: list[RoleHost] = []
    try:
        for role, host_dir, env in hosts:
            started.append(_start_role(role, host_dir, env=env, workers=workers))
        for host in started:
            _wait_ready(host)
        yield started
    finally:
        for host in started:
            if host.process.poll() is None:
                os.killpg(host.process.pid, signal.SIGINT)
        for host in started:
            host.process.wait(timeout=60)


def _start_role(role: str, host_dir: Path, *, env: dict[str, str], workers: str) -> RoleHost:
    host_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = up_argv(role, port=port, workers=workers, web_workers=1)
    log_path = host_dir / f"up-{role}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}" if role != "worker" else None
    return RoleHost(role, process, base, log_path)


def _wait_ready(host: RoleHost) -> None:
    if host.base:
        wait_for(lambda: _ping(host.base) or _exited(host), timeout=180, interval=0.5,
                 message=f"the {host.role} host's web server")  # fmt: skip
    else:
        wait_for(lambda: "worker host is starting" in host.output() or _exited(host),
                 timeout=180, interval=0.3, message="the worker host")  # fmt: skip


def _exited(host: RoleHost) -> bool:
    if host.process.poll() is not None:
        raise AssertionError(f"up --role {host.role} exited:\n{host.output()}")
    return False


def worker_queues(pid: int) -> list[list[str]]:
    """The queues of every RQ worker running under `pid`, from RQ's registry in the test's Redis
    (by pid: a worker's command line may be its parent's when it is a fork of it)."""
    from rq import Worker

    from jobs.queue import get_connection

    ours = set(descendants(pid))
    workers = Worker.all(connection=get_connection())
    return sorted(worker.queue_names() for worker in workers if worker.pid in ours)
