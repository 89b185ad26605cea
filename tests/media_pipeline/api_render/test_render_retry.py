"""Honest render status: while a failed or lost attempt waits to be retried, every render and
export status says it is still rendering (never `failed` before the job has failed for good), and
the next attempt's progress starts again from zero. Real workers, real renders."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services as job_services
from jobs.context import job_temp_dir
from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.models import Clip, Export
from tests.conftest import run_burst_worker, wait_for
from tests.media_pipeline.api_render.conftest import API, add_content, make_clip, post_json

pytestmark = pytest.mark.django_db(transaction=True)

FRONTEND = "/api/frontend/v1"
SRT = "1\n00:00:00,000 --> 00:00:01,200\nHello there\n"


def _render(api, clip):
    response = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "tiny"})
    assert response.status_code == 202, response.content
    return response.json()


def _statuses(api, clip) -> dict:
    """What each reader of the render says: the v1 progress, the v1 clip, the frontend's clip,
    and the rows."""
    progress = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    export = Export.objects.get(id=progress["export_id"])
    return {
        "progress": progress,
        "v1_clip": api.get(f"{API}/clips/{clip.id}").json()["final_status"],
        "frontend_clip": api.get(f"{FRONTEND}/library/clips/{clip.id}").json()["clip"][
            "final_status"
        ],
        "export": export.status,
        "clip": Clip.objects.get(id=clip.id).final_status,
    }


def test_a_render_waiting_to_retry_says_rendering_everywhere(api, clip, tiny_preset, settings):
    settings.JOB_RETRY_BACKOFF_BASE = 0.5
    add_content(clip, srt=SRT)
    created = _render(api, clip)
    # Attempt 1 finds a file where its temp dir goes: a real, passing failure (OSError).
    blocker = job_temp_dir(created["job_id"], 1)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way")
    run_burst_worker()
    job = Job.objects.get(id=created["job_id"])
    assert (job.status, job.attempts, job.stage) == (JobStatus.QUEUED, 1, "retry_wait")

    waiting = _statuses(api, clip)
    progress = waiting["progress"]
    assert progress["status"] == "rendering"
    assert (progress["job_status"], progress["current_step"]) == ("queued", "retry_wait")
    assert progress["error"] == ""  # not failed: no error to show
    assert progress["last_attempt_error"].startswith("FileExistsError")
    assert (progress["attempt"], progress["max_attempts"]) == (1, 2)
    assert progress["retry_at"] is not None
    assert (waiting["v1_clip"], waiting["export"], waiting["clip"]) == ("rendering",) * 3
    assert waiting["frontend_clip"] == "processing"

    blocker.unlink()
    wait_for(lambda: job_services.jobs_reconcile() == 1, timeout=10, message="the backoff")
    run_burst_worker()
    done = _statuses(api, clip)
    assert done["progress"]["status"] == "completed", Job.objects.get(id=job.id).error
    assert (done["progress"]["attempt"], done["progress"]["last_attempt_error"]) == (2, "")
    assert (done["v1_clip"], done["frontend_clip"]) == ("rendered", "completed")


def test_a_render_that_fails_for_good_says_failed_only_then(
    api, user, media, tiny_preset, settings
):
    settings.JOB_RETRY_BACKOFF_BASE = 0.3
    clip = make_clip(user, media.video(seconds=2))
    created = _render(api, clip)
    for attempt in (1, 2):  # both attempts find their temp dir taken
        path = job_temp_dir(created["job_id"], attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("in the way")
    run_burst_worker()
    assert _statuses(api, clip)["progress"]["status"] == "rendering"  # attempt 2 follows
    wait_for(lambda: job_services.jobs_reconcile() == 1, timeout=10, message="the backoff")
    run_burst_worker()  # attempt 2, the last one, fails too
    failed = _statuses(api, clip)
    assert failed["progress"]["status"] == "failed"
    assert failed["progress"]["error"].startswith("FileExistsError")
    assert failed["progress"]["last_attempt_error"] == "" and failed["progress"]["retry_at"] is None
    assert (failed["v1_clip"], failed["frontend_clip"], failed["export"]) == ("failed",) * 3


def test_after_a_rescue_attempt_two_starts_at_zero(api, user, media, tiny_preset, worker_process):
    clip = make_clip(user, media.video(seconds=4))
    add_content(clip, tts_text="Attempt two starts from zero.", tts_provider="offline", srt=SRT)
    created = _render(api, clip)
    job_id = created["job_id"]
    # Attempt 1: a worker claims it, gets to 63.6 %, and is lost (no more heartbeats).
    job_services.job_claim(job_id=job_id)
    job_services.job_set_progress(
        job_id=job_id, percent=63.6, stage="render", label="Rendering Tiny", eta_seconds=20
    )
    later = timezone.now() + timedelta(seconds=30)
    Job.objects.filter(id=job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert job_services.jobs_rescue_stale(now=later)["requeued"] == 1
    rescued = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert (rescued["status"], rescued["current_step"], rescued["error"]) == (
        "rendering",
        "requeued",
        "",
    )

    worker_process()  # attempt 2, followed as a client would, every 20 ms
    seen, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        body = api.get(f"{API}/clips/{clip.id}/render/progress").json()
        seen.append((body["attempt"], body["job_status"], body["percentage"], body["status"]))
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.02)
    assert seen[-1][3] == "completed", Job.objects.get(id=job_id).error
    assert all(status != "failed" for *_, status in seen)
    second = [percent for attempt, job_status, percent, _ in seen if attempt == 2]
    running = [p for a, s, p, _ in seen if a == 2 and s == "processing"]
    assert running, f"attempt 2 never seen running: {seen}"
    # Attempt 2 starts from 0 and climbs again, instead of holding at 63.6 while it redoes
    # the work.
    assert running[0] < 63.6 and min(running) < 35
    assert second == sorted(second)  # and never goes backwards within the attempt
