"""Clip renders through the API: a real render with voice-over and subtitles in an ExportPreset
row, progress read from the job, the download with Range, and the refusals."""

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs import services as job_services
from jobs.models import Job, JobFile
from jobs.status import JobStatus
from media_pipeline.library.media import preset_from_row
from media_pipeline.library.models import Clip, Export, ExportPreset
from media_pipeline.ops.presets import PRESETS
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_render.conftest import API, add_content, make_clip, post_json
from tests.stored import stored_path

pytestmark = pytest.mark.django_db(transaction=True)

SRT = "1\n00:00:00,000 --> 00:00:01,200\nHello there\n"


def _render(api, clip, preset="tiny"):
    return post_json(api, f"{API}/clips/{clip.id}/render", {"preset": preset})


def test_export_presets_lists_the_active_rows(api, tiny_preset):
    ExportPreset.objects.filter(name="square").update(is_active=False)
    body = api.get(f"{API}/export-presets").json()
    names = [p["name"] for p in body]
    assert "tiny" in names and "tiktok" in names and "square" not in names
    assert set(names) == set(PRESETS) - {"square"} | {"tiny"}
    tiny = next(p for p in body if p["name"] == "tiny")
    assert (tiny["width"], tiny["height"], tiny["fps"]) == (180, 320, 15)


def test_preset_row_becomes_a_render_preset(tiny_preset):
    preset = preset_from_row(tiny_preset)
    assert (preset.name, preset.width, preset.height, preset.fps) == ("tiny", 180, 320, 15)
    assert (preset.x264_preset, preset.video_maxrate_kbps, preset.bufsize_kbps) == (
        "ultrafast",
        500,
        1000,
    )


def test_render_with_voiceover_and_subtitles_fills_the_export(api, clip, tiny_preset):
    add_content(
        clip,
        tts_text="This voice over is longer than the two seconds of the clip itself.",
        tts_provider="offline",
        srt=SRT,
        subtitle_settings={"fontSize": 18, "positionY": 80},
    )
    response = _render(api, clip)
    assert response.status_code == 202, response.content
    created = response.json()
    export = Export.objects.get(id=created["export_id"])
    assert export.status == Export.Status.QUEUED and str(export.job_id) == created["job_id"]
    source = JobFile.objects.get(job_id=created["job_id"], label="source")
    assert source.role == JobFile.Role.SHARED and source.name == clip.file.name

    queued = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert (queued["status"], queued["percentage"], queued["export_id"]) == ("queued", 0, export.id)

    run_burst_worker()
    job = Job.objects.get(id=created["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    export.refresh_from_db()
    clip.refresh_from_db()
    assert export.status == Export.Status.COMPLETED and export.completed_at is not None
    assert export.size == default_storage.size(export.file.name) > 0
    info = probe_media(stored_path(export.file.name))
    assert (info.width, info.height, info.fps) == (180, 320, 15.0)
    voice = job.result["voiceover"]
    assert voice["provider"] == "offline" and job.result["subtitles"] is True
    assert info.duration == pytest.approx(voice["duration"], abs=0.15)  # follows the voice
    assert info.duration > 2.5 and info.has_audio
    assert clip.final_status == Clip.RenderStatus.RENDERED
    assert clip.project.exported_count == 1
    assert job.result["export_id"] == export.id

    done = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert done["status"] == "completed" and done["job_status"] == "completed"
    assert done["percentage"] == 100 and done["current_step"] == "done"

    whole = api.get(f"{API}/clips/{clip.id}/download")
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    data = b"".join(whole.streaming_content)
    with default_storage.open(export.file.name, "rb") as fh:
        assert data == fh.read()
    part = api.get(f"{API}/clips/{clip.id}/download", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:200]


def test_progress_numbers_come_from_the_job_row(api, clip, tiny_preset):
    created = _render(api, clip).json()
    job_id = created["job_id"]
    assert job_services.job_claim(job_id=job_id) is not None  # as a worker would
    job_services.job_set_progress(
        job_id=job_id, percent=42.5, stage="render", label="Rendering Tiny", eta_seconds=7.5
    )
    body = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert body["status"] == "rendering" and body["job_id"] == job_id
    assert (body["percentage"], body["current_step"], body["estimated_remaining"]) == (
        42.5,
        "render",
        7.5,
    )
    job_services.job_cancel(job=Job.objects.get(id=job_id))
    cancelled = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert (cancelled["status"], cancelled["job_status"]) == ("failed", "cancelled")


def test_a_render_that_fails_marks_export_and_clip_failed(api, user, media, tiny_preset):
    clip = make_clip(user, media.audio(seconds=1))  # no video stream: a permanent failure
    created = _render(api, clip).json()
    run_burst_worker()
    export = Export.objects.get(id=created["export_id"])
    clip.refresh_from_db()
    assert export.status == Export.Status.FAILED and not export.file
    assert clip.final_status == Clip.RenderStatus.FAILED
    body = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert body["status"] == "failed" and "no video stream" in body["error"]
    assert api.get(f"{API}/clips/{clip.id}/download").status_code == 404


def test_default_preset_is_instagram_reels(api, clip):
    response = post_json(api, f"{API}/clips/{clip.id}/render")
    assert response.status_code == 202
    assert Export.objects.get(id=response.json()["export_id"]).preset.name == "instagram_reels"


@pytest.mark.parametrize("preset", ["nope", "square-inactive"])
def test_unknown_or_inactive_preset_is_422(api, clip, preset):
    ExportPreset.objects.filter(name="square").update(is_active=False)
    name = "square" if preset == "square-inactive" else preset
    response = _render(api, clip, preset=name)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == (
        "preset"
    )
    assert not Export.objects.exists() and not Job.objects.exists()


def test_clip_in_trash_or_without_file_is_409(api, user, media, tiny_preset):
    trashed = make_clip(user, media.video(), deleted_at=timezone.now())
    empty = make_clip(user)
    for clip in (trashed, empty):
        response = _render(api, clip)
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "conflict"
    assert not Export.objects.exists() and not Job.objects.exists()


def test_unrenderable_content_is_422_before_any_job(api, clip, tiny_preset):
    add_content(clip, srt="1\n00:00:02,000 --> 00:00:01,000\nBackwards\n")
    response = _render(api, clip)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"][:2] == ["content", "srt"]
    assert not Export.objects.exists()


def test_download_and_progress_without_a_render_are_404(api, clip):
    assert api.get(f"{API}/clips/{clip.id}/download").status_code == 404
    assert api.get(f"{API}/clips/{clip.id}/render/progress").status_code == 404


def test_bulk_render_starts_one_job_per_clip(api, user, media, tiny_preset):
    clips = [make_clip(user, media.video()) for _ in range(2)]
    response = post_json(
        api, f"{API}/clips/bulk-render", {"clip_ids": [c.id for c in clips], "preset": "tiny"}
    )
    assert response.status_code == 202, response.content
    items = response.json()["items"]
    assert [i["clip_id"] for i in items] == [c.id for c in clips]
    jobs = Job.objects.filter(id__in=[i["job_id"] for i in items])
    assert {j.job_type for j in jobs} == {"clip_render"} and jobs.count() == 2
    assert Export.objects.filter(preset__name="tiny").count() == 2


def test_bulk_render_is_all_or_nothing(api, user, other_user, media, tiny_preset):
    mine = make_clip(user, media.video())
    theirs = make_clip(other_user, media.video())
    trashed = make_clip(user, media.video(), deleted_at=timezone.now())
    url = f"{API}/clips/bulk-render"
    not_mine = post_json(api, url, {"clip_ids": [mine.id, theirs.id], "preset": "tiny"})
    assert not_mine.status_code == 404
    assert post_json(api, url, {"clip_ids": [mine.id, trashed.id]}).status_code == 409
    assert post_json(api, url, {"clip_ids": [mine.id], "preset": "nope"}).status_code == 422
    assert post_json(api, url, {"clip_ids": []}).status_code == 422
    assert not Export.objects.exists() and not Job.objects.exists()


def test_a_render_with_an_elevenlabs_voiceover_past_a_hard_budget_is_402(api, user, clip, settings):
    from decimal import Decimal

    from jobs.models import UsageBudget

    settings.COST_RATES = {**settings.COST_RATES, "elevenlabs.characters": 0.01}
    UsageBudget.objects.create(user=user, monthly_limit_usd=Decimal("0.50"), hard=True)
    add_content(clip, tts_text="x" * 60, tts_provider="elevenlabs")  # 60 chars: $0.60
    refused = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "instagram_reels"})
    assert refused.status_code == 402, refused.content
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert not Export.objects.exists() and not Job.objects.exists()
    clip.content.tts_text = "x" * 40  # $0.40 fits
    clip.content.save()
    accepted = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "instagram_reels"})
    assert accepted.status_code == 202, accepted.content


def test_the_default_preset_is_the_one_marked_and_can_move(api, clip, tiny_preset):
    from media_pipeline.library.media import export_preset_default, export_preset_set_default

    body = api.get(f"{API}/export-presets").json()
    assert [p["name"] for p in body if p["is_default"]] == ["instagram_reels"]  # none marked yet
    export_preset_set_default(preset=tiny_preset)
    export_preset_set_default(preset=tiny_preset)  # idempotent: still one default
    assert export_preset_default() == tiny_preset
    assert ExportPreset.objects.filter(is_default=True).count() == 1
    body = api.get(f"{API}/export-presets").json()
    assert [p["name"] for p in body if p["is_default"]] == ["tiny"]
    response = post_json(api, f"{API}/clips/{clip.id}/render")
    assert Export.objects.get(id=response.json()["export_id"]).preset == tiny_preset
    export_preset_set_default(preset=ExportPreset.objects.get(name="tiktok"))
    assert list(ExportPreset.objects.filter(is_default=True).values_list("name", flat=True)) == [
        "tiktok"
    ]
