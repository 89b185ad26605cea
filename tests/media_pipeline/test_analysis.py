"""Segment analysis: the scoring on synthetic frame arrays, the local analysis on generated media
with a known structure, the Gemini provider over mocked HTTP, and `analyze` jobs end to end."""

import json
import subprocess
from decimal import Decimal

import httpx
import numpy as np
import pytest
import respx
from django.conf import settings as django_settings
from django.core.files import File

from jobs import services
from jobs.models import CostEntry
from jobs.status import JobStatus
from media_pipeline.ops import gemini
from media_pipeline.ops.analysis import analyze_video, display_orientation, iter_gray_frames
from media_pipeline.ops.analysis_frames import box_blur, features_from_frames
from media_pipeline.ops.analysis_scoring import (
    AnalysisConfig,
    analyze_features,
    drop_duplicates,
    normalise_scores,
    window_grid,
    window_length,
)
from media_pipeline.ops.analysis_selection import Window, largest_free_part, select_segments
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.ffmpeg_bin import ffmpeg_path
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker

RNG_SEED = 7
FPS = 5.0


# --- synthetic frames -------------------------------------------------------------------------
def smooth_random(rng, height=36, width=64) -> np.ndarray:
    """A random low-frequency picture (distinct pHash), mid-grey on average."""
    coarse = rng.uniform(40, 215, size=(5, 8))
    rows = np.linspace(0, 4, height)
    cols = np.linspace(0, 7, width)
    picture = np.array(
        [[np.interp(c, range(8), coarse[int(round(r))]) for c in cols] for r in rows]
    )
    return picture.astype(np.uint8)


def sections(*parts):
    """Concatenate (seconds, frame_maker) parts into times and frames sampled at FPS."""
    frames = []
    for seconds, make in parts:
        frames += [make(i) for i in range(int(seconds * FPS))]
    times = np.arange(len(frames)) / FPS
    return times, frames


def test_window_length_is_an_eighth_of_the_target_clamped():
    assert window_length(4) == 1.5
    assert window_length(16) == 2.0
    assert window_length(120) == 3.0


def test_window_grid_overlaps_by_30_percent_and_reaches_the_end():
    grid = window_grid(10.0, 2.0, 0.3)
    assert grid[0] == (0.0, 2.0) and grid[1] == (1.4, 3.4)
    assert grid[-1][1] == 10.0
    assert all(
        b[0] - a[0] == pytest.approx(1.4) for a, b in zip(grid[:-2], grid[1:-1], strict=True)
    )
    assert window_grid(1.0, 2.0, 0.3) == [(0.0, 1.0)]
    assert window_grid(0.0, 2.0, 0.3) == []


def test_box_blur_keeps_flat_areas_and_spreads_a_spike():
    frame = np.full((5, 5), 90.0)
    assert np.allclose(box_blur(frame), 90.0)
    spike = np.zeros((5, 5))
    spike[2, 2] = 90.0
    blurred = box_blur(spike)
    assert blurred[2, 2] == pytest.approx(10.0) and blurred[1, 1] == pytest.approx(10.0)
    assert blurred.sum() == pytest.approx(90.0)


def test_motion_is_a_rate_per_second_whatever_the_sampling():
    def drifting(fps):
        shift = 6.0 / fps  # 6 px per second
        base = np.tile(np.linspace(0, 255, 96), (36, 1))
        times = np.arange(int(2 * fps)) / fps
        frames = [np.roll(base, int(round(t * fps * shift)), axis=1)[:, :64] for t in times]
        return features_from_frames(times, np.array(frames, dtype=np.uint8))

    slow, fast = drifting(2.0), drifting(6.0)
    assert np.median(slow.motion) > 0.01
    assert np.median(fast.motion) == pytest.approx(np.median(slow.motion), rel=0.25)


def test_dark_and_static_windows_are_dropped_and_segments_fall_in_the_moving_part():
    rng = np.random.default_rng(RNG_SEED)
    still = smooth_random(rng)
    times, frames = sections(
        (2, lambda i: np.full((36, 64), 8, np.uint8)),  # dark
        (3, lambda i: still),  # static
        (4, lambda i: smooth_random(rng)),  # moving
    )
    result = analyze_features(features_from_frames(times, frames), duration=9.0, target_duration=3)
    assert result["windows"]["dark"] >= 1 and result["windows"]["static"] >= 1
    assert result["covers_target"] and result["selected_duration"] >= 3
    for segment in result["segments"]:
        assert 5.0 <= segment["start"] < segment["end"] <= 9.0
        assert segment["duration"] == pytest.approx(segment["end"] - segment["start"], abs=1e-3)


def test_score_is_the_weighted_sum_of_metrics_normalised_by_their_maximum():
    windows = [
        Window(0, 2, motion=0.2, variance=0.5, brightness=0.4),
        Window(2, 4, motion=0.1, variance=0.25, brightness=0.8),
    ]
    normalise_scores(windows, AnalysisConfig())
    first, second = windows
    assert first.motion_score == 1.0 and second.motion_score == 0.5
    assert second.variance_score == 0.5 and first.brightness_score == 0.5
    assert first.score == pytest.approx(0.6 * 1 + 0.3 * 1 + 0.1 * 0.5)
    assert second.score == pytest.approx(0.6 * 0.5 + 0.3 * 0.5 + 0.1 * 1)


def test_a_repeated_section_is_dropped_as_a_near_duplicate():
    rng = np.random.default_rng(RNG_SEED)
    clip = [smooth_random(rng) for _ in range(int(4 * FPS))]
    other = [smooth_random(rng) for _ in range(int(4 * FPS))]
    repeated = features_from_frames(np.arange(40) / FPS, clip + clip)
    distinct = features_from_frames(np.arange(40) / FPS, clip + other)

    result = analyze_features(repeated, duration=8.0, target_duration=8.0)
    assert result["windows"]["duplicate"] >= 3
    assert result["selected_duration"] <= 4.0 + 1.5  # about one copy, not two
    assert not result["covers_target"] and "duplicate" in result["shortfall"]

    control = analyze_features(distinct, duration=8.0, target_duration=8.0)
    assert control["windows"]["duplicate"] == 0 and control["covers_target"]


def test_neighbouring_windows_of_one_shot_are_never_duplicates():
    same = np.uint64(0xF0F0)
    windows = [Window(0, 2, score=1.0, phash=0xF0F0, frame_hashes=np.array([same]))]
    windows.append(Window(1.4, 3.4, score=0.9, phash=0xF0F0, frame_hashes=np.array([same])))
    windows.append(Window(5.0, 7.0, score=0.8, phash=0xF0F1, frame_hashes=np.array([same])))
    drop_duplicates(windows, max_distance=2)
    assert [w.dropped for w in windows] == [None, None, "duplicate"]


def test_selection_covers_the_target_without_overlaps():
    windows = [
        Window(0.0, 2.0, score=0.5),
        Window(1.4, 3.4, score=0.9),
        Window(2.8, 4.8, score=0.7),
        Window(4.2, 6.2, score=0.1),
    ]
    chosen = select_segments(windows, target_duration=4.0, min_length=1.0)
    spans = [(w.start, w.end) for w in chosen]
    # best first (0.9, 0.7, 0.5), each clipped to the uncovered part, returned sorted by time
    assert spans == [(0.0, 1.4), (1.4, 3.4), (3.4, 4.8)]
    assert largest_free_part(0, 10, [(2, 3), (6, 9)]) == (3, 6)


def test_a_source_shorter_than_the_target_says_so():
    rng = np.random.default_rng(RNG_SEED)
    times, frames = sections((3, lambda i: smooth_random(rng)))
    result = analyze_features(features_from_frames(times, frames), duration=3.0, target_duration=30)
    assert not result["covers_target"]
    assert "shorter than the 30 s target" in result["shortfall"]
    assert result["selected_duration"] == pytest.approx(3.0, abs=0.25)
    ranks = sorted(segment["rank"] for segment in result["segments"])
    assert ranks == list(range(1, len(result["segments"]) + 1))


def test_display_orientation_turns_clockwise():
    frame = np.array([[1, 2, 3], [4, 5, 6]])
    assert display_orientation(frame, 0) is frame
    assert display_orientation(frame, 90).tolist() == [[4, 1], [5, 2], [6, 3]]
    assert display_orientation(frame, 180).tolist() == [[6, 5, 4], [3, 2, 1]]


# --- Gemini pure parts ------------------------------------------------------------------------
def test_frame_extraction_args():
    args = gemini.frame_extraction_args("/in/a.mp4", "/tmp/f", interval=2, width=720)
    assert args == [
        "-i", "/in/a.mp4",
        "-filter_complex", "[0:v]fps=fps=1/2[s0];[s0]scale=h=-2:w=min(720\\,iw)[s1]",
        "-map", "[s1]", "-q:v", "4", "-start_number", "0", "/tmp/f/frame_%05d.jpg",
    ]  # fmt: skip


def test_batch_times_become_absolute_once_per_batch():
    assert gemini.batches(35, 30) == [range(0, 30), range(30, 35)]
    raw = [
        {"start": 4, "end": 8, "score": 80, "reason": "jump"},
        {"start": 9, "end": 99, "score": 120},  # clamped to the batch (5 frames × 2 s = 10 s)
        {"start": 3, "end": 3.2, "score": 50},  # too short
        {"end": 5},  # unusable
    ]
    segments = gemini.batch_segments_to_absolute(
        raw, batch_start=60.0, batch_span=10.0, source_duration=70.0
    )
    assert [(s["start"], s["end"], s["score"]) for s in segments] == [
        (64.0, 68.0, 80.0),
        (69.0, 70.0, 100.0),
    ]


def test_answers_are_parsed_from_fenced_json_or_rejected_clearly():
    fenced = {"candidates": [{"content": {"parts": [{"text": '```json\n{"segments": []}\n```'}]}}]}
    assert gemini.parse_answer(fenced) == []
    with pytest.raises(gemini.GeminiError, match="not JSON"):
        gemini.parse_answer({"candidates": [{"content": {"parts": [{"text": "sure! here"}]}}]})
    with pytest.raises(gemini.GeminiError, match="without content"):
        gemini.parse_answer({"promptFeedback": {"blockReason": "SAFETY"}})


def test_request_body_carries_every_frame_and_the_context():
    body = gemini.request_body([b"a", b"b", b"c"], interval=2.0, context_text="cooking show")
    parts = body["contents"][0]["parts"]
    assert sum("inline_data" in p for p in parts) == 3
    assert "cooking show" in parts[0]["text"] and "frame 2 (+4 s)" in parts[5]["text"]
    assert body["generationConfig"]["responseMimeType"] == "application/json"


# --- generated media --------------------------------------------------------------------------
def _ffmpeg(args, out):
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", *args, str(out)], check=True)
    return out


def _lavfi_concat(out, sources, fps=10):
    inputs = []
    for source in sources:
        inputs += ["-f", "lavfi", "-i", f"{source}:size=320x240:rate={fps}"]
    labels = "".join(f"[{i}:v]" for i in range(len(sources)))
    graph = f"{labels}concat=n={len(sources)}:v=1:a=0,format=yuv420p"
    encode = ["-c:v", "libx264", "-preset", "ultrafast"]
    return _ffmpeg([*inputs, "-filter_complex", graph, *encode], out)


@pytest.fixture(scope="session")
def structured_video(tmp_path_factory):
    """2 s black, 3 s still colour bars, 5 s moving test pattern (moving from 5 s to 10 s)."""
    return _lavfi_concat(
        tmp_path_factory.mktemp("analysis") / "structured.mp4",
        ["color=c=black:duration=2", "smptebars=duration=3", "testsrc2=duration=5"],
    )


@pytest.fixture(scope="session")
def repeated_video(tmp_path_factory):
    """The same 5 s of moving test pattern twice."""
    return _lavfi_concat(
        tmp_path_factory.mktemp("analysis") / "repeated.mp4",
        ["testsrc2=duration=5", "testsrc2=duration=5"],
    )


@pytest.fixture(scope="session")
def long_tiny_video(tmp_path_factory):
    """70 s at 160x120, 5 fps: 35 frames at one per 2 s for Gemini."""
    out = tmp_path_factory.mktemp("analysis") / "long.mp4"
    source = "testsrc2=size=160x120:rate=5:duration=70"
    return _ffmpeg(["-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "ultrafast"], out)


def test_local_analysis_keeps_only_the_moving_section(structured_video):
    fractions = []
    result = analyze_video(structured_video, target_duration=4, on_progress=fractions.append)
    assert result["windows"]["dark"] >= 1 and result["windows"]["static"] >= 1
    assert result["covers_target"] and result["selected_duration"] >= 4
    for segment in result["segments"]:
        assert 5.0 - 0.11 <= segment["start"] and segment["end"] <= 10.0
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts)
    assert fractions == sorted(fractions) and fractions[-1] >= 0.95  # progress by decoded time
    assert result["frames_analysed"] == pytest.approx(10 * 5, abs=1)


def test_local_analysis_drops_the_repeated_section(repeated_video):
    result = analyze_video(repeated_video, target_duration=10)
    assert result["windows"]["duplicate"] >= 2
    # Map each segment onto its offset in the 5 s pattern: the copies must barely overlap.
    offsets = sorted(
        (s["start"] % 5.0, s["start"] % 5.0 + s["duration"]) for s in result["segments"]
    )
    overlap = sum(max(0.0, a[1] - b[0]) for a, b in zip(offsets, offsets[1:], strict=False))
    assert overlap <= 0.5
    assert 3.5 <= result["selected_duration"] <= 5.5
    assert not result["covers_target"] and "duplicate" in result["shortfall"]


@pytest.fixture(scope="session")
def b_frame_video(tmp_path_factory):
    """The structured video at 30 fps with three B-frames between reference frames (x264
    `veryfast`; cameras and encoders mostly write B-frames), where the others have none."""
    source = tmp_path_factory.mktemp("analysis") / "structured-b-frames.mp4"
    sources = ["color=c=black:duration=2", "smptebars=duration=3", "testsrc2=duration=5"]
    inputs = []
    for one in sources:
        inputs += ["-f", "lavfi", "-i", f"{one}:size=320x240:rate=30"]
    graph = "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p"
    # No B-pyramid: every B-frame is then one that no other frame refers to.
    x264 = "bframes=3:b-adapt=0:b-pyramid=none"
    encode = ["-c:v", "libx264", "-preset", "veryfast", "-x264-params", x264]
    return _ffmpeg([*inputs, "-filter_complex", graph, *encode], source)


def _picture_types(path) -> dict[float, str]:
    import av
    from av.video.frame import PictureType

    with av.open(str(path)) as container:
        frames = container.decode(video=0)
        return {round(f.time, 3): PictureType(f.pict_type).name for f in frames}


def test_b_frames_are_not_decoded_and_samples_fall_on_the_next_reference_frame(b_frame_video):
    types = _picture_types(b_frame_video)
    assert list(types.values()).count("B") > len(types) / 3, "the source has B-frames"
    sampled = [seconds for seconds, _frame in iter_gray_frames(b_frame_video, sample_fps=5)]
    assert {types[round(t, 3)] for t in sampled} <= {"I", "P"}
    assert len(sampled) == pytest.approx(10 * 5, abs=2)
    late = [t - round(t * 5) / 5 for t in sampled]  # after its 5 fps sample time
    assert max(late) <= 4 / 30 + 1e-3, "at most the B-frames in between"
    result = analyze_video(b_frame_video, target_duration=4)
    for segment in result["segments"]:  # the same moving section found
        assert 5.0 - 0.2 <= segment["start"] and segment["end"] <= 10.0


def test_rotated_video_is_analysed_in_display_orientation(media, tmp_path):
    path = media.rotated(rotation=90)
    rotation = probe_media(path).rotation
    first = next(iter_gray_frames(path, sample_fps=2, rotation=rotation))[1].astype(int)
    assert first.shape == (64, 36)  # portrait: stored 320x240, turned
    # The oracle: ffmpeg's own autorotation of the same frame.
    raw = tmp_path / "first.gray"
    _ffmpeg(
        ["-i", str(path), "-frames:v", "1", "-vf", "scale=36:64,format=gray", "-f", "rawvideo"], raw
    )
    shown = np.frombuffer(raw.read_bytes(), np.uint8).reshape(64, 36).astype(int)
    assert np.abs(first - shown).mean() < 5
    assert np.abs(np.rot90(first, 2) - shown).mean() > 20  # the test can tell the turns apart
    result = analyze_video(path, target_duration=1.5)
    assert result["segments"] and result["covers_target"]


def test_truncated_video_is_analysed_as_far_as_it_goes(tmp_path, structured_video):
    faststart = _ffmpeg(["-i", str(structured_video), "-c", "copy", "-movflags", "+faststart"],
                        tmp_path / "faststart.mp4")  # fmt: skip
    data = faststart.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 3 // 4])
    result = analyze_video(truncated, target_duration=2)
    assert "truncated" in result["decode_warning"]
    assert 5.0 < result["source_duration"] < 10.0
    assert all(s["end"] <= result["source_duration"] for s in result["segments"])


def test_audio_only_input_is_a_clear_permanent_error(media):
    with pytest.raises(InvalidMediaError, match="no video stream"):
        analyze_video(media.audio(), target_duration=5)


# --- jobs end to end --------------------------------------------------------------------------
def _create(user, path, **params):
    with open(path, "rb") as fh:
        return services.job_create(
            job_type="analyze", params=params, owner=user, inputs={"source": File(fh, "x.mp4")}
        )


@pytest.mark.django_db(transaction=True)
def test_analyze_job_returns_segments_of_the_moving_section(user, structured_video):
    job = _create(user, structured_video, target_duration=4, provider="local")
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.progress == 100 and job.stage == "done"
    assert job.result["provider"] == "local" and job.result["fallback"] is False
    assert job.result["segments"]
    for segment in job.result["segments"]:
        assert 5.0 - 0.11 <= segment["start"] and segment["end"] <= 10.0
        assert {"start", "end", "duration", "motion_score", "variance_score", "score"} <= set(
            segment
        )
    assert not CostEntry.objects.filter(job=job).exists()


@pytest.mark.django_db(transaction=True)
def test_analyze_job_rejects_non_video_permanently(user, media):
    job = _create(user, media.audio(), target_duration=4)
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "no video stream" in job.error


def test_bad_params_are_rejected_before_a_job_exists():
    from jobs.errors import InvalidJobParams
    from jobs.registry import get_job_type

    with pytest.raises(InvalidJobParams) as err:
        get_job_type("analyze").parse_params(
            {"target_duration": 0, "provider": "magic", "thresholds": {"dark": 2}}
        )
    fields = {tuple(d["loc"]) for d in err.value.details}
    assert {("params", "target_duration"), ("params", "provider")} <= fields
    assert ("params", "thresholds", "dark") in fields


def _gemini_answer(request: httpx.Request) -> httpx.Response:
    """Per batch: one segment 2–8 s after the batch's first frame, scored by batch size."""
    assert request.headers["x-goog-api-key"] == "test-key"
    parts = json.loads(request.content)["contents"][0]["parts"]
    frames = sum("inline_data" in part for part in parts)
    segments = [
        {"start": 2, "end": 8, "score": 90 if frames == 30 else 60, "reason": f"n={frames}"}
    ]
    text = json.dumps({"segments": segments})
    return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": text}]}}]})


@pytest.fixture
def gemini_on(settings):
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = "https://gemini.test"
    settings.GEMINI_MODEL = "gemini-test"
    return "https://gemini.test/v1beta/models/gemini-test:generateContent"


@pytest.mark.django_db(transaction=True)
def test_gemini_batches_get_absolute_times_and_their_costs(user, long_tiny_video, gemini_on):
    with respx.mock(assert_all_called=False) as mock:
        mock.post(gemini_on).mock(side_effect=_gemini_answer)
        job = _create(user, long_tiny_video, target_duration=60, context_text="a test pattern")
        run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    result = job.result
    assert result["provider"] == "gemini" and result["batches"] == 2
    frames = result["frames_sent"]
    assert 35 <= frames <= 36
    spans = [(s["start"], s["end"], s["reason"]) for s in result["segments"]]
    assert spans == [(2.0, 8.0, "n=30"), (62.0, 68.0, f"n={frames - 30}")]
    assert [s["rank"] for s in result["segments"]] == [1, 2]
    assert not result["covers_target"]

    costs = CostEntry.objects.filter(job=job, service="gemini")
    frame_units = sorted(int(c.units) for c in costs.filter(unit_name="frames"))
    assert frame_units == sorted([30, frames - 30])
    requests = costs.filter(unit_name="requests")
    assert requests.count() == 2 and all(c.units == 1 for c in requests)
    rate = Decimal(str(django_settings.COST_RATES["gemini.frames"]))
    assert sum(c.cost_usd for c in costs.filter(unit_name="frames")) == frames * rate
    assert all(c.owner_id == user.id for c in costs)


@pytest.mark.django_db(transaction=True)
def test_gemini_401_fails_permanently_with_a_readable_error(user, long_tiny_video, gemini_on):
    body = {"error": {"code": 401, "message": "API key not valid.", "status": "UNAUTHENTICATED"}}
    with respx.mock(assert_all_called=False) as mock:
        mock.post(gemini_on).mock(return_value=httpx.Response(401, json=body))
        job = _create(user, long_tiny_video, target_duration=20, provider="gemini")
        run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "Gemini rejected the API key (HTTP 401): API key not valid." in job.error
    assert "test-key" not in job.error + job.error_detail
    assert not CostEntry.objects.filter(job=job).exists()


@pytest.mark.django_db(transaction=True)
def test_gemini_without_a_key_fails_clearly_or_falls_back(user, structured_video, settings):
    settings.GEMINI_API_KEY = ""
    refused = _create(user, structured_video, target_duration=4, provider="gemini")
    local = _create(user, structured_video, target_duration=4, context_text="no key: local")
    run_burst_worker()
    refused.refresh_from_db()
    assert refused.status == JobStatus.FAILED and refused.attempts == 1
    assert "GEMINI_API_KEY is empty" in refused.error
    local.refresh_from_db()
    assert local.status == JobStatus.COMPLETED and local.result["provider"] == "local"


@pytest.mark.django_db(transaction=True)
def test_gemini_5xx_is_retried_or_falls_back_to_local_when_asked(user, structured_video, gemini_on):
    body = {"error": {"code": 503, "message": "overloaded"}}
    with respx.mock(assert_all_called=False) as mock:
        mock.post(gemini_on).mock(return_value=httpx.Response(503, json=body))
        retried = _create(user, structured_video, target_duration=4, provider="gemini")
        fallback = _create(
            user, structured_video, target_duration=4, provider="gemini", fallback_to_local=True
        )
        run_burst_worker()
    retried.refresh_from_db()
    assert retried.status == JobStatus.QUEUED and retried.attempts == 1  # transient: backoff
    assert "HTTP 503" in retried.error
    fallback.refresh_from_db()
    assert fallback.status == JobStatus.COMPLETED, fallback.error
    assert fallback.result["provider"] == "local" and fallback.result["fallback"] is True
    assert fallback.result["requested_provider"] == "gemini"
    assert "HTTP 503" in fallback.result["fallback_reason"]
    assert all(5.0 - 0.11 <= s["start"] for s in fallback.result["segments"])
