"""A bad-media corpus generated here, through real workers: every job type either fails at once
(one attempt, permanent) with an error naming the problem, or completes with a clear result."""

import pytest
from django.core.files import File

from jobs import services
from jobs.status import JobStatus
from media_pipeline.errors import InvalidMediaError
from media_pipeline.ffmpeg_run import run_ffmpeg
from media_pipeline.probe import probe_media

from ..conftest import run_burst_worker

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE_JOBS = {
    "probe": {},
    "analyze": {"target_duration": 5},
    "render_clip": {"preset": "square"},
    "process": {"variant_count": 1, "target_duration": 2},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, media):
    d = tmp_path_factory.mktemp("bad")
    good = media.video(seconds=3)
    truncated = d / "truncated.mp4"
    # No +faststart: the index (moov) is at the end, so half the file has no index at all.
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:d=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(d / "full.mp4"),
        ]
    )
    data = (d / "full.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {
        "text renamed .mp4": (media.text_file(), "not a"),
        "zero-byte file": (media.empty_file(), "empty"),
        "truncated file": (truncated, "not a readable media file"),
        "audio only": (media.audio(seconds=2), "no video"),
        "good": (good, None),
    }


def _run(user, job_type, params, path):
    with open(path, "rb") as fh:
        job = services.job_create(
            job_type=job_type, params=params, owner=user, inputs={"source": File(fh, name="in.mp4")}
        )
    run_burst_worker()
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("job_type", sorted(SOURCE_JOBS))
@pytest.mark.parametrize("case", ["text renamed .mp4", "zero-byte file", "truncated file"])
def test_unusable_files_fail_permanently_with_the_reason(user, corpus, job_type, case):
    path, reason = corpus[case]
    job = _run(user, job_type, SOURCE_JOBS[job_type], path)
    assert job.status == JobStatus.FAILED and job.attempts == 1, (job.status, job.error)
    assert reason in job.error


@pytest.mark.parametrize("job_type", ["analyze", "render_clip", "process"])
def test_audio_only_input_to_a_video_job_names_the_missing_stream(user, corpus, job_type):
    path, reason = corpus["audio only"]
    job = _run(user, job_type, SOURCE_JOBS[job_type], path)
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert reason in job.error


def test_a_video_without_audio_still_renders_with_a_silent_track(user, media):
    job = _run(user, "render_clip", {"preset": "square"}, media.video(seconds=2, audio=False))
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["duration"] == pytest.approx(2, abs=0.1)


def test_variable_frame_rate_input_renders_at_the_preset_rate(user, tmp_path):
    vfr = tmp_path / "vfr.mkv"
    # Frame times stretched and squeezed: the frame rate changes all the time.
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=3", "-vf", "setpts='PTS+0.02*sin(N)/TB'",
                "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", str(vfr)])  # fmt: skip
    job = _run(user, "render_clip", {"preset": "square"}, vfr)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["width"] == 1080 and job.result["duration"] == pytest.approx(3, abs=0.15)


def test_huge_dimensions_are_refused_by_name(tmp_path):
    huge = tmp_path / "huge.mkv"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "color=s=8200x8200:d=0.04",
            "-frames:v",
            "1",
            "-c:v",
            "mjpeg",
            str(huge),
        ]
    )
    with pytest.raises(InvalidMediaError, match="8200x8200 are too large"):
        probe_media(huge)
