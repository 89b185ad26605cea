"""The README's walkthrough (docs/walkthrough.sh) runs as written against `up`, offline: token,
upload, generate, content, render, progress, download, and the download is a real Reels mp4."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from media_pipeline.ops.probe import probe_media
from tests.up_process import running_up

pytestmark = pytest.mark.slow
SCRIPT = Path(settings.BASE_DIR) / "docs" / "walkthrough.sh"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl, not installed")
def test_the_readme_walkthrough_renders_and_downloads_a_clip(tmp_path, media):
    video = media.video(seconds=8, size="320x240")
    out = tmp_path / "clip.mp4"
    # The offline voice by choice: a test sends nothing beyond loopback, so edge-tts is not tried.
    with running_up(tmp_path, extra_env={"EF_TTS_DEFAULT_PROVIDER": "offline"}) as up:
        token = up.manage("create_api_token", "admin", "--quiet").strip()
        run = subprocess.run(
            ["bash", str(SCRIPT), str(video), str(out)],
            env={**up.env, "EF": f"{up.base}/api/v1", "TOKEN": token},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "ready_for_triage" in run.stdout and f"Downloaded {out}" in run.stdout
    info = probe_media(out)
    assert (info.width, info.height, info.has_audio) == (1080, 1920, True)
    assert info.duration > 1
