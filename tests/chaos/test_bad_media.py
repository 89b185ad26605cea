"""Chaos: a corpus of bad and odd media, generated here, through the API and real workers.

Each file gets a readable 4xx at upload, or a job that fails with a readable reason, or (where
it is legitimately valid) a job whose output is right: never a 500, never a hung worker. Unusable
files also reach jobs directly (a `create_job --input`, a stored file gone bad), so the job
types must refuse them too. A stalled input (a FIFO nobody writes to) hangs ffmpeg: the job
type's timeout stops it and the worker goes on.
"""

import os
import uuid
from pathlib import Path

import av
import pytest
from django.conf import settings
from django.core.files import File

from jobs import services
from jobs.errors import InvalidJobParams
from jobs.models import Job, JobFile
from jobs.status import TERMINAL, JobStatus
from media_pipeline.ops.probe import probe_media
from tests.chaos.test_worker_kill import ffmpeg_pids_of
from tests.conftest import wait_for
from tests.media_pipeline.api_videos.helpers import API, created_job, error, fields, post
from tests.stored import stored_path

# Job types that read one 'source' video, with cheap params.
SOURCE_JOBS = {
    "probe": {},
    "analyze": {"target_duration": 5},
    "render_clip": {"preset": "square"},
    "process": {"variant_count": 1, "target_duration": 2},
}
VIDEO_JOBS = ["analyze", "render_clip", "process"]
# Unusable files -> what a job's error (or the upload check's message) may say. Text is either
# not opened at all or opened by ffmpeg's text demuxer (then refused by name), depending on
# its extension.
NOT_MEDIA = ("not a readable media file", "not a video or audio file")
UNUSABLE = {
    "zero-byte": ("the file is empty (0 bytes)",),
    "truncated mp4": ("not a readable media file",),
    "text renamed .mp4": NOT_MEDIA,
}
UPLOAD_REFUSAL = {
    "zero-byte": (422, ("'file' is empty (0 bytes)",)),
    "truncated mp4": (415, ("'file': not a readable media file",)),
    "text renamed .mp4": (415, tuple(f"'file': {reason}" for reason in NOT_MEDIA)),
}
BROKEN_SRT = {
    "end before start": ("1\n00:00:05,000 --> 00:00:01,000\nBackwards\n", "ends (00:00:01,000) at or before"),
    "no cues at all": ("just some words, no cues at all", "text outside any cue"),
    "bad timing line": ("1\n00:00:01 -> 00:00:02\nhi\n", "has no timing line"),
    "overlap, empty cue": ("1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:01,500 --> 00:00:03,000\nOver\n", "has no text"),
    "control bytes": ("1\n00:00:00,000 --> 00:00:01,000\n\x01\x02\x03\n\n\x1b", "text outside any cue"),
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(media) -> dict[str, Path]:
    return {
        "zero-byte": media.empty_file(),
        "truncated mp4": media.truncated(),
        "text renamed .mp4": media.text_file(),
        "audio only": media.audio(seconds=2),
        "video only": media.video(seconds=2, size="160x120", fps=10, audio=False),
        "8K": media.huge(),
        "variable frame rate": media.variable_frame_rate(),
        # Stored landscape, left half red and right half blue, displayed turned 90° CCW.
        "rotated": media.rotated(rotation=90, source=media.halves()),
    }


# --- refused at upload ----------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["/videos/info", "/videos/process", "/source-videos"])
@pytest.mark.parametrize("case", list(UNUSABLE))
def test_unusable_uploads_are_refused_with_a_readable_4xx(api, corpus, case, endpoint):
    status, reasons = UPLOAD_REFUSAL[case]
    response = post(api, endpoint, files={"file": corpus[case]})
    assert response.status_code == status, response.content
    assert error(response)["message"].startswith(reasons)
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["/videos/analyze", "/videos/process", "/source-videos"])
def test_audio_only_upload_to_a_video_endpoint_is_422(api, corpus, endpoint):
    response = post(api, endpoint, files={"file": corpus["audio only"]})
    assert response.status_code == 422, response.content
    assert error(response)["message"] == "'file' has no video stream"
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_dimensions_past_the_limit_are_refused_by_name(api, media):
    response = post(
        api, "/videos/info", files={"file": media.huge(size="8200x8200", codec="mjpeg")}
    )
    assert response.status_code == 415, response.content
    assert "dimensions 8200x8200 are too large" in error(response)["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BROKEN_SRT))
def test_broken_srt_is_a_422_naming_the_problem(api, media, case):
    srt, reason = BROKEN_SRT[case]
    video = media.video(seconds=1)
    as_params = post(api, "/videos/process", params={"srt": srt}, files={"file": video})
    assert as_params.status_code == 422, as_params.content
    assert "params.srt" in fields(as_params)
    matched = api.post(f"{API}/match-srt", {"srt": srt}, content_type="application/json")
    assert matched.status_code == 422, matched.content
    body = error(matched)
    assert body["code"] == "invalid_srt" and reason in body["message"] and body["details"]
    with pytest.raises(InvalidJobParams):  # as a job: refused before anything is written
        services.job_create(job_type="render_clip", params={"srt": srt})
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_srt_with_nul_bytes_is_refused_naming_the_field(api, media):
    """Text with NUL characters is refused before any SRT parsing (core.strict); as a job's
    params it is binary, not SRT."""
    srt = "1\n00:00:00,000 --> 00:00:01,000\n\x00\x01\x02\n\n\x00"
    nul = "contains a NUL character"
    as_params = post(
        api, "/videos/process", params={"srt": srt}, files={"file": media.video(seconds=1)}
    )
    assert as_params.status_code == 422 and nul in error(as_params)["message"], as_params.content
    assert "params.srt" in fields(as_params)
    matched = api.post(f"{API}/match-srt", {"srt": srt}, content_type="application/json")
    assert matched.status_code == 422 and error(matched)["message"].startswith(f"'srt': {nul}")
    with pytest.raises(InvalidJobParams):
        services.job_create(job_type="render_clip", params={"srt": srt})
    assert Job.objects.count() == 0


# --- as jobs on real workers ------------------------------------------------------------------
def _job_on_file(user, job_type: str, path: Path) -> Job:
    with path.open("rb") as fh:
        return services.job_create(
            job_type=job_type,
            params=SOURCE_JOBS[job_type],
            owner=user,
            inputs={"source": File(fh, name="source.mp4")},
        )


def _render(user, path: Path, preset: str) -> Job:
    with path.open("rb") as fh:
        return services.job_create(
            job_type="render_clip",
            params={"preset": preset},
            owner=user,
            inputs={"source": File(fh, name="source.mp4")},
        )


def _output(job: Job) -> Path:
    return Path(stored_path(JobFile.objects.get(job=job, label="video").name))


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]


def _pixel(path: Path, *, x: int, y: int):
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return tuple(int(v) for v in frame[y, x])


def _check_probe(job, corpus_case):
    result = job.result
    approx = pytest.approx
    expected = {
        "audio only": {"has_video": False, "has_audio": True, "duration": approx(2, abs=0.05)},
        "video only": {"has_video": True, "has_audio": False, "duration": approx(2, abs=0.05)},
        "8K": {"width": 7680, "height": 4320, "duration": approx(1, abs=0.05)},
        "variable frame rate": {"has_video": True, "fps": 20.0, "duration": approx(3, abs=0.05)},
        # 90° counter-clockwise is 270° clockwise: the 160x120 picture shows portrait.
        "rotated": {"width": 120, "height": 160, "rotation": 270, "aspect": "portrait"},
    }[corpus_case]
    assert {key: result.get(key) for key in expected} == expected, result


def _check_render(job, corpus_case):
    out = _output(job)
    info = probe_media(out)
    if corpus_case == "video only":  # a silent track is added: every output has audio
        assert info.has_audio and (info.width, info.height) == (1080, 1080)
    elif corpus_case == "variable frame rate":  # constant 30 fps, same length
        times = _frame_times(out)
        steps = {round(b - a, 4) for a, b in zip(times, times[1:], strict=False)}
        assert steps == {round(1 / 30, 4)}, steps
        assert info.duration == pytest.approx(3, abs=0.1)
    elif corpus_case == "rotated":  # honoured: the left (red) edge is now at the bottom
        assert (info.width, info.height, info.rotation) == (1080, 1920, 0)
        top, bottom = _pixel(out, x=540, y=300), _pixel(out, x=540, y=1600)
        assert top[2] > 200 and top[0] < 60, f"top should be blue, is {top}"
        assert bottom[0] > 200 and bottom[2] < 60, f"bottom should be red, is {bottom}"
    elif corpus_case == "8K":
        assert (info.width, info.height) == (1080, 1080)
        assert info.duration == pytest.approx(1, abs=0.1)


@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_the_corpus_as_jobs_ends_in_time_with_readable_outcomes(api, user, corpus, worker_process):
    expectations: dict = {}  # job id -> (what it is, check)
    for case in ("audio only", "video only", "8K", "variable frame rate", "rotated"):
        job = created_job(post(api, "/videos/info", files={"file": corpus[case]}))
        expectations[job.id] = (f"probe of {case}", case, _check_probe)
    for case, preset in [("video only", "square"), ("variable frame rate", "square"),
                         ("rotated", "instagram_reels"), ("8K", "square")]:  # fmt: skip
        job = _render(user, corpus[case], preset)
        expectations[job.id] = (f"render of {case}", case, _check_render)
    for case, reasons in UNUSABLE.items():
        for job_type in SOURCE_JOBS:
            job = _job_on_file(user, job_type, corpus[case])
            expectations[job.id] = (f"{job_type} of {case}", reasons, None)
    for job_type in VIDEO_JOBS:
        job = _job_on_file(user, job_type, corpus["audio only"])
        expectations[job.id] = (f"{job_type} of audio only", ("has no video stream",), None)

    workers = [worker_process(), worker_process()]
    wait_for(
        lambda: (
            Job.objects.filter(id__in=list(expectations), status__in=TERMINAL).count()
            == len(expectations)
        ),
        timeout=90,
        interval=0.25,
        message="every corpus job to end (a worker hung?)",
    )
    problems = []
    for job in Job.objects.filter(id__in=list(expectations)):
        what, detail, check = expectations[job.id]
        if check is None:  # must fail at once (bad input: no retry) with the reason
            readable = any(reason in job.error for reason in detail)
            if job.status != JobStatus.FAILED or job.attempts != 1 or not readable:
                problems.append(
                    f"{what}: {job.status} after {job.attempts} attempt(s): {job.error!r}"
                )
        elif job.status != JobStatus.COMPLETED:
            problems.append(f"{what}: {job.status}: {job.error!r}")
        else:
            check(job, detail)
    assert not problems, "\n".join(problems)
    assert all(w.process.poll() is None for w in workers), "a worker died on bad media"


# --- a stalled input ----------------------------------------------------------------------------
@pytest.mark.timeout(90)
@pytest.mark.django_db(transaction=True)
def test_a_stalled_ffmpeg_input_hits_the_timeout_and_the_worker_goes_on(
    user, media, worker_process
):
    name = f"chaos/stalled-{uuid.uuid4().hex}.fifo"
    fifo = Path(settings.MEDIA_ROOT) / name
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    # A writer that never writes: ffmpeg opens the input, then waits for data forever.
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        job = services.job_create(
            job_type="test_ffmpeg_input", owner=user, shared_inputs={"source": name}
        )
        worker = worker_process()
        # The worker's start up to its ffmpeg took over 20 s once, in a suite run on a loaded
        # 2-core VM (the job's own 3 s timeout starts only once the ffmpeg runs).
        wait_for(lambda: ffmpeg_pids_of(fifo.name), timeout=45, message="ffmpeg on the FIFO")
        wait_for(
            lambda: Job.objects.filter(id=job.id, status__in=TERMINAL).exists(),
            timeout=15,
            message="the stalled job to be stopped by its timeout",
        )
        job.refresh_from_db()
        assert (job.status, job.error, job.attempts) == (JobStatus.FAILED, "timed out after 3 s", 1)
        wait_for(
            lambda: not ffmpeg_pids_of(fifo.name), timeout=2, message="the stalled ffmpeg to die"
        )
        # The same worker takes the next job.
        after = _job_on_file(user, "probe", media.video(seconds=1))
        wait_for(
            lambda: Job.objects.filter(id=after.id, status=JobStatus.COMPLETED).exists(),
            timeout=20,
            message="the next job on the same worker",
        )
        assert worker.process.poll() is None
    finally:
        os.close(writer)
        fifo.unlink()
