"""render_clip end to end through a real worker: preset frame, voice-over sync, subtitles."""

import pytest

from jobs import services
from jobs.errors import InvalidJobParams
from jobs.status import JobStatus
from media_pipeline.ops.probe import probe_media
from tests.media_pipeline.render_jobs import output_path, run_render_clip

pytestmark = pytest.mark.django_db(transaction=True)


def test_square_render_of_two_segments_with_srt(user, media):
    srt = "1\n00:00:00,000 --> 00:00:01,500\nHello there\n"
    job = run_render_clip(
        user,
        media.video(seconds=4),
        preset="square",
        segments=[{"start": 0, "end": 1}, {"start": 2, "end": 3.5}],
        srt=srt,
    )
    assert job.status == JobStatus.COMPLETED, job.error
    info = probe_media(output_path(job, "video"))
    assert (info.width, info.height, info.fps) == (1080, 1080, 30.0)
    assert info.duration == pytest.approx(2.5, abs=0.1)
    assert job.result["subtitles"] and {f.label for f in job.files.all()} >= {
        "video",
        "thumbnail",
        "srt",
    }


def test_tts_voiceover_sets_the_length_and_loops_a_short_source(user, media):
    job = run_render_clip(
        user,
        media.video(seconds=2),
        preset="tiktok",
        segments=[{"start": 0, "end": 1}],
        sync="loop",
        tts={
            "text": "This voice over is longer than the one second of video we give it.",
            "provider": "offline",
        },
        karaoke=True,
    )
    assert job.status == JobStatus.COMPLETED, job.error
    info = probe_media(output_path(job, "video"))
    voice = job.result["voiceover"]
    assert voice["provider"] == "offline" and voice["duration"] > 2.5
    assert info.duration == pytest.approx(voice["duration"], abs=0.1)
    assert (info.width, info.height) == (1080, 1920)
    assert len(job.result["timeline"]) >= 3  # the one-second piece repeated


def test_invalid_srt_and_unknown_preset_are_refused_before_a_job_exists(user):
    with pytest.raises(InvalidJobParams) as err:
        services.job_create(
            job_type="render_clip",
            params={"preset": "vhs", "srt": "1\n00:00:02,000 --> 00:00:01,000\nx\n"},
            owner=user,
        )
    fields = {tuple(d["loc"]) for d in err.value.details}
    assert ("params", "preset") in fields and ("params", "srt") in fields


def test_a_text_file_fails_permanently_with_a_readable_error(user, media):
    job = run_render_clip(user, media.text_file(), preset="square")
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "not a" in job.error


def test_segments_too_short_to_use_fail_permanently(user, media):
    job = run_render_clip(
        user,
        media.video(seconds=2),
        preset="square",
        segments=[{"start": 0, "end": 0.01}],
        sync="loop",
    )
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "no piece of at least" in job.error
