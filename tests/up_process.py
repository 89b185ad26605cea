"""Run `manage.py up` as a user does, in its own data dir and process group (tests of the whole
product: tests/test_up.py, tests/test_walkthrough.py)."""

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

from tests.conftest import wait_for

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
