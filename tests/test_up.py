"""`manage.py up`, the zero-setup run command: everything starts (embedded Redis, web, worker,
maintenance), a real job runs through it, and Ctrl-C leaves no process behind."""

import time

import httpx
import pytest

from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg
from tests.conftest import descendants, pid_alive, wait_for
from tests.up_process import running_up

pytestmark = pytest.mark.slow


def test_up_serves_runs_a_job_and_stops_everything_on_ctrl_c(tmp_path, media):
    children: list[int] = []
    with running_up(tmp_path) as up:
        base = up.base
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
        token = up.manage("create_api_token", "admin").split()[-1]
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
        children = descendants(up.process.pid)
        assert len(children) >= 4  # redis, web, maintenance, worker (and uvicorn's own children)
    time.sleep(0.5)
    assert [pid for pid in children if pid_alive(pid)] == []
    output = up.log_path.read_text()
    # Which ffmpeg runs, and why: the same choice as this process makes with this environment.
    choice = choose_ffmpeg()
    assert (
        f"ffmpeg {choice.info.version}, {choice.source}: {choice.path} ({choice.reason})." in output
    )
    stopped = output[output.index("Press Ctrl-C") :]
    assert "Traceback" not in stopped and "KeyboardInterrupt" not in stopped
    assert "could not connect to Redis" not in stopped  # Redis outlives the workers
    assert stopped.count("Edit Factory stopped.") == 1
