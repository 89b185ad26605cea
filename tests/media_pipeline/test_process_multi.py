"""process (variants) and multi_video end to end through a real worker, outputs probed."""

import av
import numpy as np
import pytest
from django.core.files import File

from jobs import services
from jobs.status import JobStatus
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.stored import stored_path

pytestmark = pytest.mark.django_db(transaction=True)


def _run(user, job_type, params, inputs):
    handles = {label: open(path, "rb") for label, path in inputs.items()}  # noqa: SIM115
    try:
        files = {label: File(fh, name=f"{label}.mp4") for label, fh in handles.items()}
        job = services.job_create(job_type=job_type, params=params, owner=user, inputs=files)
    finally:
        for fh in handles.values():
            fh.close()
    run_burst_worker()
    job.refresh_from_db()
    return job


def _path(job, label):
    return stored_path(job.files.get(label=label).name)


@pytest.fixture(scope="module")
def varied_source(tmp_path_factory):
    """12 s of a continuous Mandelbrot zoom: every window looks different (testsrc2 repeats)."""
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = tmp_path_factory.mktemp("process") / "zoom.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "mandelbrot=s=320x240:r=25", "-f", "lavfi", "-i", "sine=d=12", "-t", "12",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)])  # fmt: skip
    return path


def test_process_makes_disjoint_variants_with_thumbnails(user, varied_source):
    source = varied_source
    job = _run(user, "process", {"variant_count": 2, "target_duration": 3}, {"source": source})
    assert job.status == JobStatus.COMPLETED, job.error
    variants = job.result["variants"]
    assert len(variants) == 2 and not job.result["reused_segments"]
    assert job.result["shared_time"] == [] and job.result["note"] == ""
    spans = [(s["start"], s["end"]) for v in variants for s in v["segments"]]
    for i, (a0, a1) in enumerate(spans):
        for b0, b1 in spans[i + 1 :]:
            assert a1 <= b0 or b1 <= a0, "variants share footage"
    for n in (1, 2):
        info = probe_media(_path(job, f"variant_{n}"))
        assert info.duration == pytest.approx(3, abs=0.15)
        assert (info.width, info.height) == (320, 240)
        assert job.files.filter(label=f"thumbnail_{n}").exists()


def _mean_frame(path, at):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= at:
                return frame.to_ndarray(format="rgb24").astype(np.int16)
    raise AssertionError("no frame")


def test_multi_video_inserts_the_secondary_where_its_keyword_is_said(user, media, tmp_path):
    main = media.video(seconds=4, size="320x240")
    red = tmp_path / "red.mp4"
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=320x240:r=25:d=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(red),
        ]
    )
    srt = "1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:02,000 --> 00:00:03,000\nLook at the Roșu car\n"
    job = _run(
        user,
        "multi_video",
        {"srt": srt, "keywords": [["rosu"]]},
        {"main": main, "secondary_0": red},
    )
    assert job.status == JobStatus.COMPLETED, job.error
    assert [(i["cue"], i["start"]) for i in job.result["inserts"]] == [(2, 2.0)]
    out = _path(job, "video")
    inserted, before = _mean_frame(out, 2.5), _mean_frame(out, 0.5)
    top = slice(0, 100)  # above the subtitles
    assert inserted[top, :, 0].mean() > 200 and inserted[top, :, 1].mean() < 60  # red
    assert not (before[top, :, 0].mean() > 200 and before[top, :, 1].mean() < 60)
    assert probe_media(out).duration == pytest.approx(4, abs=0.1)


def _rms_db(path, start, end):
    """RMS level in dBFS of the decoded audio between start and end seconds."""
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if start <= frame.time < end:
                chunks.append(frame.to_ndarray().astype(np.float64).ravel())
    samples = np.concatenate(chunks)
    return 20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-12)


def test_process_can_mute_the_voice_of_the_source(user, media):
    source, (speech_start, speech_end) = media.video_with_speech(lead=1.0, tail=1.0)
    params = {
        "variant_count": 1,
        "target_duration": 30,
        "voice_mute": {"keep_percentage": 5, "fade_ms": 50},
    }
    job = _run(user, "process", params, {"source": source})
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["voice_mute"]["status"] == "muted", job.result["voice_mute"]
    variant = _path(job, "variant_1")
    segments = job.result["variants"][0]["segments"]
    # Find the variant time where the source's speech plays, and compare its level with the source's.
    offset, t = None, 0.0
    for seg in segments:
        if seg["start"] <= speech_start + 0.5 < seg["end"]:
            offset = t + (speech_start + 0.5 - seg["start"])
        t += seg["end"] - seg["start"]
    if offset is None:
        pytest.skip("the analysis selected no speech footage")
    original = _rms_db(source, speech_start + 0.5, speech_start + 1.0)
    muted = _rms_db(variant, offset, offset + 0.5)
    assert muted < original - 15
