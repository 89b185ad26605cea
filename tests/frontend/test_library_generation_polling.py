"""Contract 2.3 followed as the Library page follows it, with a real worker process: after
`POST .../generate` (or `.../generate-from-segments`) answers OK, every 2 s the project and its
progress, until `ready_for_triage` (then the clips) or `failed`."""

import subprocess

import numpy as np
import pytest

from jobs.models import Job
from media_pipeline.library.models import Clip
from media_pipeline.ops.ffmpeg_bin import ffmpeg_path
from tests.frontend.library_fixtures import (  # noqa: F401 - fixtures
    BASE,
    follow_generation,
    offline_voice,
    send_json,
    shrunk_presets,
    stored_source,
)
from tests.media_pipeline.test_voice import RATE, decode_mono
from tests.stored import stored_path

pytestmark = pytest.mark.django_db(transaction=True)


def _project(api, target_duration=2):
    body = {"name": "Teaser", "description": "", "target_duration": target_duration}
    return send_json(api, "post", "/library/projects", {**body, "context_text": ""}).json()["id"]


def test_generation_polled_to_ready_for_triage_then_clips(api, media, worker_process):
    worker_process()
    project_id = _project(api)
    with media.video(seconds=4).open("rb") as fh:
        started = api.post(
            f"{BASE}/library/projects/{project_id}/generate", {"video": fh, "variant_count": "2"}
        )
    assert started.status_code == 202, started.content
    project, clips, seen = follow_generation(api, project_id)
    assert project["status"] == "ready_for_triage" and project["variants_count"] == 2
    assert [c["variant_index"] for c in clips] == [1, 2]
    assert all(c["final_status"] == "pending" and c["raw_video_path"] for c in clips)
    percentages = [p["percentage"] for p in seen]
    assert percentages == sorted(percentages) and percentages[-1] == 100


def test_generation_polled_to_failed(api, worker_process, tmp_path):
    """A black, silent, static source has nothing worth cutting: the job fails for good, the
    project says `failed` and polling stops there."""
    black = tmp_path / "black.mp4"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=320x240:r=25:d=4",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(black)],
        check=True,
    )  # fmt: skip
    worker_process()
    project_id = _project(api)
    with black.open("rb") as fh:
        started = api.post(
            f"{BASE}/library/projects/{project_id}/generate", {"video": fh, "variant_count": "1"}
        )
    assert started.status_code == 202, started.content
    project, clips, _ = follow_generation(api, project_id)
    assert (project["status"], clips) == ("failed", None)
    assert not Clip.objects.exists()
    # the page re-reads nothing else; a reset makes the project ready for a new generation
    reset = send_json(api, "patch", f"/library/projects/{project_id}", {"status": "draft"})
    assert reset.status_code == 200 and reset.json()["status"] == "draft"


@pytest.mark.usefixtures("offline_voice")
def test_from_segments_with_muted_voice_and_a_script_polled_to_ready(
    api, user, media, worker_process
):
    """The segments path with `mute_source_voice` and a script: the clips' speech is lowered
    (measured) and each new clip's content carries the script, so rendering it voices it."""
    path, (speech_start, speech_end) = media.video_with_speech()
    source = stored_source(user, path)
    from tests.frontend.library_fixtures import segment

    spoken = segment(source, speech_start - 0.2, speech_end + 0.2, ["talk"])
    project_id = _project(api, target_duration=5)
    assigned = api.post(
        f"{BASE}/segments/projects/{project_id}/assign", {"segment_ids": [str(spoken.id)]}
    )
    assert assigned.status_code == 200, assigned.content
    worker_process()
    script = "Three tips for better videos."
    started = send_json(
        api,
        "post",
        f"/library/projects/{project_id}/generate-from-segments",
        {"variant_count": 1, "selection_mode": "sequential", "target_duration": 5,
         "mute_source_voice": True, "tts_text": script, "generate_tts": True},
    )  # fmt: skip
    assert started.status_code == 202, started.content
    project, clips, _ = follow_generation(api, project_id)
    assert project["status"] == "ready_for_triage", project
    [clip] = clips
    detail = api.get(f"{BASE}/library/clips/{clip['id']}").json()
    assert detail["content"]["tts_text"] == script
    job = Job.objects.get(id=started.json()["job_id"])
    assert job.params["voice_mute"]["keep_percentage"] == 10
    [report] = job.result["voice_mute"].values()
    assert report["status"] == "muted" and report["muted_intervals"]
    # the clip starts at the segment's start: its speech is ~20 dB under the source's
    row = Clip.objects.get(id=clip["id"])
    original = decode_mono(path)
    produced = decode_mono(stored_path(row.file.name))
    offset = int(spoken.start * RATE)
    inner = slice(int(0.4 * RATE), int((speech_end - spoken.start - 0.3) * RATE))
    source_rms = np.sqrt(np.mean(original[offset:][inner] ** 2))
    clip_rms = np.sqrt(np.mean(produced[inner] ** 2))
    assert 20 * np.log10(clip_rms / source_rms) < -12
