"""What the Library/Librarie page tests share: the frontend's base URL, its two request styles
(JSON bodies, multipart forms), library rows around real generated media, shrunk export presets
and the page's polling loops (contract 2.3 and 2.4), followed as the page follows them.

Import the fixtures a test module uses by name (`from tests.frontend.library_fixtures import
...`); nothing here mocks the database, Redis, the workers or ffmpeg."""

import json
import time
from urllib.parse import quote

import pytest
from django.core.files import File

from media_pipeline.library.models import Clip, ExportPreset, Project, Segment, SourceVideo
from media_pipeline.library.projects import project_refresh_counts
from media_pipeline.ops.presets import PRESETS
from media_pipeline.ops.probe import probe_media

BASE = "/api/frontend/v1"
POLL_INTERVAL = 2.0  # the page's fixed interval (2.3, 2.4)


def send_json(client, method: str, path: str, body=None, **extra):
    """The page's JSON request: `Content-Type: application/json`, the body JSON-stringified."""
    data = "" if body is None else json.dumps(body)
    return getattr(client, method)(BASE + path, data, content_type="application/json", **extra)


def media_url(token: str, *, library: bool = True, **query) -> str:
    """The media URL the page builds: `{BASE}/library/files/{encodeURIComponent(token)}`."""
    url = f"{BASE}{'/library' if library else ''}/files/{quote(token, safe='')}"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture(autouse=True)
def shrunk_presets(db):
    """The seeded presets (a transactional test's flush removes them), shrunk as an operator
    could in the admin to keep renders fast; instagram_reels is the default, as shipped."""
    for preset in PRESETS.values():
        fields = preset.as_dict()
        name = fields.pop("name")
        fields.update(width=180, height=320, fps=15, crf=30, x264_preset="ultrafast")
        fields["is_default"] = name == "instagram_reels"
        ExportPreset.objects.update_or_create(name=name, defaults=fields)


@pytest.fixture
def offline_voice(settings, monkeypatch):
    """Voice-overs with the offline provider (no network), in this process, the workers it
    forks and worker processes started afterwards."""
    settings.TTS_DEFAULT_PROVIDER = "offline"
    monkeypatch.setenv("EF_TTS_DEFAULT_PROVIDER", "offline")


def stored_source(owner, path, name="source.mp4") -> SourceVideo:
    info = probe_media(path)
    video = SourceVideo(
        owner=owner,
        name=name,
        size=info.size_bytes,
        duration=info.duration,
        width=info.width,
        height=info.height,
        fps=info.fps,
        media_info=info.as_dict(),
    )
    with open(path, "rb") as fh:
        video.file.save("source.mp4", File(fh), save=False)
    video.save()
    return video


def stored_clip(project: Project, path, *, index: int = 1, thumbnail=None, **fields) -> Clip:
    clip = Clip(
        project=project,
        variant_index=index,
        variant_name=f"Variant {index}",
        duration=probe_media(path).duration,
        **fields,
    )
    with open(path, "rb") as fh:
        clip.file.save("clip.mp4", File(fh), save=False)
    if thumbnail is not None:
        with open(thumbnail, "rb") as fh:
            clip.thumbnail.save("thumbnail.jpg", File(fh), save=False)
    clip.save()
    project_refresh_counts(project_id=project.id)
    return clip


def thumbnail_jpeg(media):
    """A real JPEG (the first frame of a generated video), made once per session."""
    import subprocess

    from media_pipeline.ops.ffmpeg_bin import ffmpeg_path

    out = media.directory / "thumbnail.jpg"
    if not out.exists():
        video = media.video()
        subprocess.run(
            [ffmpeg_path(), "-v", "error", "-y", "-i", str(video), "-frames:v", "1", str(out)],
            check=True,
        )
    return out


def segment(source: SourceVideo, start: float, end: float, keywords=()) -> Segment:
    return Segment.objects.create(
        owner=source.owner, source_video=source, start=start, end=end, keywords=list(keywords)
    )


# --- the page's polling loops -------------------------------------------------------------------
def follow_generation(client, project_id: str, *, timeout: float = 120.0):
    """Contract 2.3: every 2 s, GET the project and its progress (as the page's interval does,
    both requests per tick); the project replaces the local one; stop on ready_for_triage (then
    GET the clips) or failed. Returns (project, clips or None, the progress answers seen)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        project_response = client.get(f"{BASE}/library/projects/{project_id}")
        progress_response = client.get(f"{BASE}/library/projects/{project_id}/progress")
        if progress_response.status_code == 200:
            progress = progress_response.json()
            assert set(progress) >= {"percentage", "current_step", "estimated_remaining"}
            assert isinstance(progress["percentage"], int) and 0 <= progress["percentage"] <= 100
            assert progress["current_step"] is None or isinstance(progress["current_step"], str)
            eta = progress["estimated_remaining"]
            assert eta is None or isinstance(eta, int)
            seen.append(progress)
        if project_response.status_code != 200:
            continue  # the page ignores a non-OK answer and keeps polling
        project = project_response.json()
        if project["status"] == "ready_for_triage":
            clips = client.get(f"{BASE}/library/projects/{project_id}/clips")
            assert clips.status_code == 200, clips.content
            return project, clips.json()["clips"], seen
        if project["status"] == "failed":
            return project, None, seen
    raise AssertionError(f"project {project_id} still generating after {timeout} s")


def follow_render(client, clip_id: str, *, timeout: float = 120.0):
    """Contract 2.4: every 2 s, GET the clip; its `clip` replaces the whole clip in the grid;
    stop when `clip.final_status` is completed or failed. Returns (clip, the statuses seen)."""
    deadline = time.monotonic() + timeout
    statuses = []
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        response = client.get(f"{BASE}/library/clips/{clip_id}")
        if response.status_code != 200:
            continue
        clip = response.json()["clip"]
        assert clip["final_status"] in {"pending", "processing", "completed", "failed"}
        statuses.append(clip["final_status"])
        if clip["final_status"] in ("completed", "failed"):
            return clip, statuses
    raise AssertionError(f"clip {clip_id} still rendering after {timeout} s: {statuses}")
