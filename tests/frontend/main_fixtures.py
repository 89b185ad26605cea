"""What the main page tests share: the page's multipart forms as it builds them (4.1.1, 4.1.2,
numbers and booleans as strings, objects as JSON strings), varied source media, and the page's
job polling loop (2.1, 2.2) followed as the page follows it."""

import json
import re
import time
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.frontend.library_fixtures import BASE

POLL_INTERVAL = 2.0  # the page's timeout chain (2.1)
SRT = (
    "1\n00:00:00,000 --> 00:00:01,500\nThree tips\n\n"
    "2\n00:00:01,500 --> 00:00:03,000\nfor your red car"
)  # the page's regenerated SRT: blocks joined by a blank line, no trailing newline
SUBTITLE_SETTINGS = {
    "fontSize": 48,
    "fontFamily": "var(--font-montserrat), Montserrat, sans-serif",
    "textColor": "#FFFFFF",
    "outlineColor": "#000000",
    "outlineWidth": 3,
    "position": "bottom",
    "marginV": 80,
    "positionY": 85,
}
PROGRESS_TEXT = re.compile(r"^\d{1,3}% – \S")


def upload(path, name=None, content_type="video/mp4") -> SimpleUploadedFile:
    with open(path, "rb") as fh:
        return SimpleUploadedFile(name or path.name, fh.read(), content_type=content_type)


def srt_blob(text: str = SRT) -> SimpleUploadedFile:
    """`new Blob([srtContent], {type: "text/plain"})` appended as "subtitles.srt"."""
    return SimpleUploadedFile("subtitles.srt", text.encode(), content_type="text/plain")


def job_form(video, **fields) -> dict:
    """POST /jobs as the page sends it when no secondary slot is active (4.1.1)."""
    form = {
        "video": upload(video),
        "target_duration": "20",
        "subtitle_settings": json.dumps(SUBTITLE_SETTINGS),
        "variant_count": "1",
        "generate_audio": "false",
        "mute_source_voice": "false",
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def multi_form(main, slots: dict, **fields) -> dict:
    """POST /jobs/multi-video (4.1.2): `slots` maps N to (video path, keywords)."""
    form = {
        "main_video": upload(main),
        "srt": srt_blob(),
        "secondary_segment_duration": "2",
        "target_duration": "20",
        "subtitle_settings": json.dumps(SUBTITLE_SETTINGS),
        "variant_count": "1",
        "generate_audio": "false",
        "mute_source_voice": "false",
    }
    for n, (path, keywords) in slots.items():
        form[f"secondary_video_{n}"] = upload(path)
        form[f"secondary_keywords_{n}"] = keywords
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def file_url(token: str, **query) -> str:
    """M1/M2: `{BASE}/files/{encodeURIComponent(final_video)}`."""
    url = f"{BASE}/files/{quote(token, safe='')}"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def follow_job(client, job_id: str, *, timeout: float = 180.0):
    """Contract 2.1/2.2: the first poll at once, then 2 s after each answer; each answer parsed
    as JSON whatever its status; go on while pending/processing, stop on completed/failed (any
    other status would freeze the page: an assertion here). Returns (job, statuses, texts)."""
    deadline = time.monotonic() + timeout
    statuses, texts = [], []
    while time.monotonic() < deadline:
        job = client.get(f"{BASE}/jobs/{job_id}").json()
        assert job["status"] in {"pending", "processing", "completed", "failed"}, job
        text = job.get("progress") or job["status"]  # what the status line shows
        assert PROGRESS_TEXT.match(text), text
        statuses.append(job["status"])
        texts.append(text)
        if job["status"] in ("completed", "failed"):
            return job, statuses, texts
        time.sleep(POLL_INTERVAL)
    raise AssertionError(f"job {job_id} still running after {timeout} s: {texts}")


@pytest.fixture(scope="module")
def varied_video(tmp_path_factory):
    """8 s of a Mandelbrot zoom with a tone: every window differs, so the analysis finds
    segments for several variants."""
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = tmp_path_factory.mktemp("main-page") / "zoom.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "mandelbrot=s=160x120:r=15", "-f", "lavfi", "-i", "sine=d=8",
                "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", str(path)])  # fmt: skip
    return path
