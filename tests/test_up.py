"""`manage.py up`, the zero-setup run command: everything starts (embedded Redis, web, worker,
maintenance), a real job runs through it, and Ctrl-C leaves no process behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg
from tests.conftest import descendants, pid_alive, wait_for

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/ping", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_up_serves_runs_a_job_and_stops_everything_on_ctrl_c(tmp_path, media):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "REDIS_URL", "EF_USE_TEST_DB", "EF_CORS_ORIGINS", "EF_PRODUCTION"}
    }
    env.update(
        EF_DATA_DIR=str(tmp_path / "data"),
        EF_ADMIN_PASSWORD="up-test-password",
        DJANGO_SETTINGS_MODULE="editfactory.settings",
    )
    children: list[int] = []
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "up", "--port", str(port), "--workers", "1", "--web-workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _ping(base), timeout=90, interval=0.5, message="the web server")
        assert httpx.get(f"{base}/admin/login/").status_code == 200
        # Outside production, `up` lets the web frontend's dev server call the API.
        preflight = httpx.options(
            f"{base}/api/v1/jobs",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.headers.get("access-control-allow-origin") == "http://localhost:3000"
        token = subprocess.run(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "create_api_token", "admin"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.split()[-1]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        with media.video().open("rb") as fh:
            created = httpx.post(
                f"{base}/api/v1/library/videos/info", headers=headers, files={"file": fh}
            ).json()
        job = wait_for(
            lambda: (j := httpx.get(base + created["status_url"], headers=headers).json())["status"] == "completed" and j,
            timeout=60, interval=0.3, message="the probe job",
        )  # fmt: skip
        assert job["result"]["width"] == 320
        children = descendants(up.pid)
        assert len(children) >= 4  # redis, web, maintenance, worker (and uvicorn's own children)
    finally:
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        up.wait(timeout=60)
        log.close()
    time.sleep(0.5)
    assert [pid for pid in children if pid_alive(pid)] == []
    output = (tmp_path / "up.log").read_text()
    # Which ffmpeg runs, and why: the same choice as this process makes with this environment.
    choice = choose_ffmpeg()
    assert (
        f"ffmpeg {choice.info.version}, {choice.source}: {choice.path} ({choice.reason})." in output
    )
    stopped = output[output.index("Press Ctrl-C") :]
    assert "Traceback" not in stopped and "KeyboardInterrupt" not in stopped
    assert "could not connect to Redis" not in stopped  # Redis outlives the workers
    assert stopped.count("Edit Factory stopped.") == 1
