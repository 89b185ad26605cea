"""Contract 2.4 followed as the Library page follows it, with a real worker process: after
`POST /library/clips/{id}/render` (or bulk-render, once per clip) answers OK, every 2 s the clip,
until `clip.final_status` is completed or failed; every render ends in one of the two (6.16)."""

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from media_pipeline.library.models import Export, Project
from media_pipeline.ops.probe import probe_media
from tests.frontend.library_fixtures import (  # noqa: F401 - fixtures
    BASE,
    body_of,
    follow_render,
    media_url,
    offline_voice,
    send_json,
    shrunk_presets,
    stored_clip,
)

pytestmark = pytest.mark.django_db(transaction=True)
SRT = "1\n00:00:00,000 --> 00:00:01,500\nThree tips\n\n2\n00:00:01,500 --> 00:00:03,000\nfor you."
SETTINGS = {
    "fontSize": 40,
    "fontFamily": "var(--font-montserrat), Montserrat, sans-serif",
    "textColor": "#FFFF00",
    "outlineColor": "#000000",
    "outlineWidth": 2,
    "positionY": 70,
}


@pytest.fixture
def project(user):
    return Project.objects.create(owner=user, name="Spring", status="ready_for_triage")


def _default_preset(api) -> str:
    """The page's render preset: the first preset marked default."""
    presets = api.get(f"{BASE}/library/export-presets").json()["presets"]
    return next(p["name"] for p in presets if p["is_default"])


@pytest.mark.usefixtures("offline_voice")
def test_render_with_voiceover_and_subtitles_polled_to_completed(
    api, project, media, worker_process, tmp_path
):
    clip = stored_clip(project, media.video(seconds=3))
    content = {"tts_text": "Three tips for you.", "srt_content": SRT, "subtitle_settings": SETTINGS}
    assert send_json(api, "put", f"/library/clips/{clip.id}/content", content).status_code == 200
    worker_process()
    preset = _default_preset(api)
    started = api.post(f"{BASE}/library/clips/{clip.id}/render", {"preset_name": preset})
    assert started.status_code == 202, started.content
    final, statuses = follow_render(api, str(clip.id))
    assert final["final_status"] == "completed", Export.objects.get().job.error
    assert set(statuses) <= {"processing", "completed"}
    download = Client().get(media_url(final["final_video_path"], download="true", v=clip.id))
    out = tmp_path / "final.mp4"
    out.write_bytes(body_of(download))
    info = probe_media(out)
    assert (info.width, info.height, info.has_audio) == (180, 320, True)


def test_bulk_render_polled_per_clip_to_completed_and_failed(api, project, media, worker_process):
    """One clip renders; the other's file is not a video: its render fails for good and the
    poll stops on `failed` too."""
    good = stored_clip(project, media.video(seconds=2), index=1)
    bad = stored_clip(project, media.video(seconds=2), index=2)
    bad.file.save("clip.mp4", ContentFile(b"not a video at all " * 50), save=True)
    worker_process()
    started = send_json(
        api,
        "post",
        "/library/clips/bulk-render",
        {"clip_ids": [str(good.id), str(bad.id)], "preset_name": "instagram_reels"},
    )
    assert started.status_code == 202, started.content
    done, _ = follow_render(api, str(good.id))
    failed, _ = follow_render(api, str(bad.id))
    assert done["final_status"] == "completed" and done["final_video_path"]
    assert failed["final_status"] == "failed" and failed["final_video_path"] is None
    error = Export.objects.get(clip=bad).job.error
    assert error  # the job says why
