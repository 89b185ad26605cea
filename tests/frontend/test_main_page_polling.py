"""Contract 2.1 and 2.2 followed as the main page follows them, with a real worker process: the
job is polled at once and 2 s after each answer until `completed` or `failed`; the page then
refreshes the job list, builds its media URLs from the answer (M1, M2, M3) and opens them with
no header; after ticking variants it adds a voice-over and polls that job the same way."""

import json

import pytest
from django.test import Client

from media_pipeline.ops.probe import probe_media
from tests.frontend import main_fixtures
from tests.frontend.library_fixtures import BASE, body_of, offline_voice  # noqa: F401
from tests.frontend.main_fixtures import file_url, follow_job, job_form, srt_blob

pytestmark = pytest.mark.django_db(transaction=True)
varied_video = main_fixtures.varied_video


@pytest.mark.usefixtures("offline_voice")
def test_variants_then_voiceover_polled_to_completed(api, varied_video, worker_process, tmp_path):
    worker_process()
    form = job_form(
        varied_video,
        srt=srt_blob(),
        output_name="reel",
        target_duration="3",
        variant_count="2",
        script_text="Three tips for you.",
    )
    created = api.post(f"{BASE}/jobs", form)
    assert created.status_code == 202, created.content
    job_id = created.json()["job_id"]

    job, statuses, texts = follow_job(api, job_id)
    assert job["status"] == "completed", job.get("error")
    assert statuses[-1] == "completed" and texts[-1].startswith("100% – ")
    listed = {j["job_id"]: j for j in api.get(f"{BASE}/jobs").json()["jobs"]}  # the refresh
    assert listed[job_id]["status"] == "completed" and listed[job_id]["progress"] == texts[-1]

    variants = job["result"]["variants"]
    assert len(variants) == 2
    browser = Client()  # media URLs: no header
    for variant in variants:
        preview = browser.get(file_url(variant["final_video"]))  # M1
        assert preview.status_code == 200 and preview["Content-Type"] == "video/mp4"
        assert preview["Content-Disposition"].startswith("inline")
        seek = browser.get(file_url(variant["final_video"]), HTTP_RANGE="bytes=100-199")
        assert seek.status_code == 206 and seek["Content-Range"].startswith("bytes 100-199/")
        saved = browser.get(file_url(variant["final_video"], download="true"))  # M2
        assert saved["Content-Disposition"].startswith("attachment")
        assert body_of(saved) == body_of(browser.get(file_url(variant["final_video"])))
    main = browser.get(f"{BASE}/jobs/{job_id}/download")  # M3
    assert main.status_code == 200 and main["Content-Disposition"].startswith("attachment")
    out = tmp_path / "main.mp4"
    out.write_bytes(body_of(main))
    assert probe_media(out).duration == pytest.approx(3, abs=0.2)

    # "Adaugă Voice-over": the ticked variants' tokens, the script, the fixed suffix (2.2).
    ticked = [variants[1]["final_video"]]
    form = {
        "video_paths": json.dumps(ticked),
        "tts_text": "Three tips for you.",
        "output_suffix": "_with_tts",
    }
    created = api.post(f"{BASE}/tts/add-to-videos", form)
    assert created.status_code == 202, created.content
    tts_job, _, _ = follow_job(api, created.json()["job_id"])
    assert tts_job["status"] == "completed", tts_job.get("error")
    processed = tts_job["result"]["processed_videos"]
    assert sum(p["status"] == "success" for p in processed) == 1
    voiced = browser.get(file_url(processed[0]["with_tts"]))
    out = tmp_path / "voiced.mp4"
    out.write_bytes(body_of(voiced))
    assert probe_media(out).has_audio


def test_a_failing_job_is_polled_to_failed_with_its_error(api, media, worker_process, tmp_path):
    """A black, still video has no usable segments: the job fails and the page shows `error`."""
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    black = tmp_path / "black.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=160x120:r=10:d=3", "-c:v", "libx264",
                "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(black)])  # fmt: skip
    worker_process()
    created = api.post(f"{BASE}/jobs", job_form(black, target_duration="5"))
    assert created.status_code == 202, created.content
    job, statuses, _ = follow_job(api, created.json()["job_id"])
    assert statuses[-1] == "failed"
    assert isinstance(job["error"], str) and "segments" in job["error"]
