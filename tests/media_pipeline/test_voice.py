"""Voice detection and muting: the interval rules on synthetic probability sequences, the gain
envelope and argv compared exactly, then real Silero VAD and real ffmpeg on generated speech,
measured (interval timing, gain in dB along the timeline, video packets, durations)."""

import hashlib
import math
import re
import subprocess
import wave

import av
import numpy as np
import pydantic
import pytest
from django.core.files import File
from django.core.files.storage import default_storage

from jobs.errors import InvalidJobParams
from jobs.models import Job
from jobs.services import job_create
from jobs.status import JobStatus
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.ffmpeg_bin import ffmpeg_path
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.voice_detect import (
    WINDOW_SECONDS,
    SpeechInterval,
    VoiceDetectionParams,
    detect_voice,
    speech_intervals,
)
from media_pipeline.ops.voice_mute import (
    AudioFacts,
    VoiceMuteParams,
    audio_bitrate_for,
    gain,
    mute_args,
    mute_voice,
    muted_suffix,
)
from tests.conftest import run_burst_worker
from tests.stored import stored_path

W = WINDOW_SECONDS  # 32 ms
TOLERANCE = 0.3  # seconds between detected and true speech edges
RATE = 44_100
NOT_MEDIA = r"not a (readable media|video or audio) file"


def params(**overrides) -> VoiceDetectionParams:
    base = dict(threshold=0.5, min_speech_ms=250, min_silence_ms=100, merge_gap_ms=0, padding_ms=0)
    return VoiceDetectionParams(**{**base, **overrides})


def spans(intervals) -> list[tuple[float, float]]:
    return [(round(i.start, 3), round(i.end, 3)) for i in intervals]


def seq(*parts: tuple[float, int]) -> list[float]:
    """A probability sequence from (value, windows) runs."""
    return [value for value, count in parts for _ in range(count)]


# --- probabilities -> intervals -------------------------------------------------------------


def test_one_run_of_speech_gives_its_window_span():
    probs = seq((0.02, 30), (0.9, 20), (0.02, 30))
    [interval] = speech_intervals(probs, window_seconds=W, params=params())
    assert spans([interval]) == [(round(30 * W, 3), round(50 * W, 3))]
    assert interval.confidence == pytest.approx(0.9)


def test_threshold_decides_what_is_speech():
    probs = seq((0.0, 10), (0.6, 20), (0.0, 10))
    assert len(speech_intervals(probs, window_seconds=W, params=params(threshold=0.5))) == 1
    assert speech_intervals(probs, window_seconds=W, params=params(threshold=0.7)) == []


def test_hysteresis_keeps_speech_through_values_just_below_the_threshold():
    # 0.4 is below 0.5 but above the 0.35 release level: still speech, for as long as it lasts.
    probs = seq((0.0, 5), (0.9, 10), (0.4, 20), (0.9, 10), (0.0, 10))
    assert spans(speech_intervals(probs, window_seconds=W, params=params())) == [
        (round(5 * W, 3), round(45 * W, 3))
    ]


def test_min_silence_decides_whether_a_pause_splits_speech():
    probs = seq((0.0, 5), (0.9, 10), (0.0, 2), (0.9, 10), (0.0, 20))  # a 64 ms pause
    assert len(speech_intervals(probs, window_seconds=W, params=params(min_silence_ms=100))) == 1
    assert len(speech_intervals(probs, window_seconds=W, params=params(min_silence_ms=50))) == 2


def test_merge_gap_joins_close_intervals_counting_the_padding():
    probs = seq((0.0, 5), (0.9, 10), (0.0, 7), (0.9, 10), (0.0, 20))  # a 224 ms pause
    assert len(speech_intervals(probs, window_seconds=W, params=params(merge_gap_ms=100))) == 2
    merged = speech_intervals(probs, window_seconds=W, params=params(merge_gap_ms=250))
    assert spans(merged) == [(round(5 * W, 3), round(32 * W, 3))]
    # 224 ms - 2 x 60 ms of padding = 104 ms apart once padded: merged by a 110 ms gap.
    padded = params(merge_gap_ms=110, padding_ms=60)
    assert len(speech_intervals(probs, window_seconds=W, params=padded)) == 1


def test_merged_confidence_averages_the_speech_windows_only():
    probs = seq((0.0, 5), (0.8, 10), (0.0, 7), (1.0, 10), (0.0, 20))
    [merged] = speech_intervals(probs, window_seconds=W, params=params(merge_gap_ms=300))
    assert merged.confidence == pytest.approx(0.9)


def test_min_speech_drops_short_bursts():
    probs = seq((0.0, 10), (0.9, 5), (0.0, 20), (0.9, 20), (0.0, 10))  # 160 ms, then 640 ms
    kept = speech_intervals(probs, window_seconds=W, params=params(min_speech_ms=250))
    assert spans(kept) == [(round(35 * W, 3), round(55 * W, 3))]
    assert len(speech_intervals(probs, window_seconds=W, params=params(min_speech_ms=100))) == 2


def test_padding_widens_intervals_within_the_media():
    probs = seq((0.9, 20), (0.0, 30), (0.9, 20))  # speech at both ends
    padded = speech_intervals(
        probs, window_seconds=W, params=params(padding_ms=100), duration=70 * W
    )
    assert spans(padded) == [(0.0, round(20 * W + 0.1, 3)), (round(50 * W - 0.1, 3), 70 * W)]


def test_speech_running_to_the_end_is_closed_there_and_offset_shifts_everything():
    probs = seq((0.0, 10), (0.9, 20))
    assert spans(speech_intervals(probs, window_seconds=W, params=params(), offset=1.0)) == [
        (round(1.0 + 10 * W, 3), round(1.0 + 30 * W, 3))
    ]


def test_no_probabilities_no_intervals():
    assert speech_intervals([], window_seconds=W, params=params()) == []
    assert speech_intervals(seq((0.2, 100)), window_seconds=W, params=params()) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"threshold": 1.2},
        {"threshold": 0},
        {"min_speech_ms": -1},
        {"min_silence_ms": 20_000},
        {"merge_gap_ms": -5},
        {"padding_ms": 5_000},
        {"bogus": 1},
    ],
)
def test_detection_params_are_validated(bad):
    with pytest.raises(pydantic.ValidationError):
        VoiceDetectionParams(**bad)


@pytest.mark.parametrize(
    "bad", [{"keep_percentage": 101}, {"keep_percentage": -1}, {"fade_ms": -1}]
)
def test_mute_params_are_validated(bad):
    with pytest.raises(pydantic.ValidationError):
        VoiceMuteParams(**bad)


# --- gain envelope and argv -----------------------------------------------------------------


def reference_gain(intervals, t: float, keep: float, fade: float) -> float:
    depth = 0.0
    for i in intervals:
        if fade:
            depth = max(depth, min(max(min(t - i.start + fade, i.end + fade - t) / fade, 0), 1))
        else:
            depth = max(depth, float(i.start <= t <= i.end))
    return 1 - (1 - keep) * depth


def test_gain_ramps_around_each_interval_and_stays_down_inside():
    one = [(1.5, 4.25)]
    times = np.array([0.0, 1.4, 1.45, 1.5, 3.0, 4.25, 4.3, 4.35, 9.0])
    assert gain(times, one, keep_percentage=10, fade=0.1) == pytest.approx(
        [1, 1, 0.55, 0.1, 0.1, 0.1, 0.55, 1, 1], abs=1e-6
    )
    no_fade = gain(np.array([1.49, 1.5, 4.25, 4.26]), one, keep_percentage=0, fade=0)
    assert list(no_fade) == [1, 0, 0, 1]
    assert list(gain(times, [], keep_percentage=10, fade=0.1)) == [1] * len(times)


def test_gain_of_close_intervals_takes_the_deeper_ramp():
    intervals = [SpeechInterval(s, s + 0.5, 1.0) for s in (0.3, 1.0, 1.6, 3.0, 3.7, 5.0, 8.0)]
    times = np.arange(0.0, 9.0, 0.001)
    values = gain(times, [(i.start, i.end) for i in intervals], keep_percentage=20, fade=0.15)
    assert values.dtype == np.float32
    expected = [reference_gain(intervals, t, 0.2, 0.15) for t in times]
    assert values == pytest.approx(expected, abs=1e-6)


def test_mute_args_copy_the_video_and_multiply_the_first_audio_track_by_stdin():
    stereo = AudioFacts(sample_rate=44_100, layout="stereo", channels=2)
    assert mute_args("in.mp4", "out.mp4", audio=stereo, audio_bitrate=128_000) == [
        "-i", "in.mp4",
        "-f", "f32le", "-ar", "44100", "-i", "pipe:0",
        "-filter_complex", "[1:a]pan=stereo|c0=c0|c1=c0[gain];[0:a:0][gain]amultiply[muted]",
        "-map", "0:v?", "-map", "[muted]",
        "-c:v", "copy", "-c:a", "aac", "-b:a", "128000",
        "out.mp4",
    ]  # fmt: skip
    mono = AudioFacts(sample_rate=16_000, layout="mono", channels=1)
    graph = mute_args("a.wav", "o.m4a", audio=mono, audio_bitrate=96_000)[9]
    assert graph == "[0:a:0][1:a]amultiply[muted]"
    odd = AudioFacts(sample_rate=48_000, layout="3 channels", channels=3)
    graph = mute_args("a.wav", "o.m4a", audio=odd, audio_bitrate=96_000)[9]
    assert graph.startswith("[1:a]pan=3c|c0=c0|c1=c0|c2=c0[gain];")


def test_output_container_and_bitrate_choices():
    mp4 = "mov,mp4,m4a,3gp,3g2,mj2"
    assert muted_suffix(mp4, "isom", True) == ".mp4"
    assert muted_suffix(mp4, "qt  ", True) == ".mov"
    assert muted_suffix(mp4, "M4A ", False) == ".m4a"
    assert muted_suffix("matroska,webm", "", True) == ".mkv"
    assert muted_suffix("wav", "", False) == ".m4a"
    assert audio_bitrate_for(None) == 192_000
    assert audio_bitrate_for(64_000) == 96_000
    assert audio_bitrate_for(256_000) == 256_000
    assert audio_bitrate_for(1_411_200) == 320_000


# --- measurement helpers --------------------------------------------------------------------


def decode_mono(path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(chunks)


def gain_db(original: np.ndarray, processed: np.ndarray, start: float, end: float) -> float:
    """Gain of `processed` over `original` between two times, from their RMS levels."""
    a, b = int(start * RATE), int(end * RATE)
    rms_in = np.sqrt(np.mean(original[a:b] ** 2))
    rms_out = np.sqrt(np.mean(processed[a:b] ** 2))
    return float(20 * np.log10(max(rms_out, 1e-9) / rms_in))  # digital silence: about -180 dB


def video_packet_hashes(path) -> list[str]:
    with av.open(str(path)) as container:
        return [
            hashlib.sha256(bytes(packet)).hexdigest()
            for packet in container.demux(video=0)
            if packet.size
        ]


def ffmpeg_make(out, args) -> None:
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", *args, str(out)], check=True)


@pytest.fixture(scope="module")
def speech_on_tone(media, tmp_path_factory):
    """Speech over a steady 220 Hz bed: every instant has signal, so the gain can be measured
    along the whole timeline (inside, outside and across the fades). Returns (path, speech)."""
    wav = media.speech_wav()
    with wave.open(str(wav)) as w:
        speech = w.getnframes() / w.getframerate()
    lead, total = 2.0, 2.0 + speech + 2.0
    out = tmp_path_factory.mktemp("voice") / "speech-on-tone.mp4"
    ffmpeg_make(
        out,
        ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={total}",
         "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate={RATE}:duration={total}",
         "-i", str(wav),
         "-filter_complex",
         f"[1:a]volume=0.1[bed];[2:a]adelay={int(lead * 1000)}:all=1[voice];"
         "[bed][voice]amix=inputs=2:normalize=0:duration=first[a]",
         "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", str(RATE)],
    )  # fmt: skip
    return out, (lead, lead + speech)


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    out = tmp_path_factory.mktemp("voice") / "silent.mp4"
    ffmpeg_make(
        out,
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
         "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", "3",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    )  # fmt: skip
    return out


def assert_matches_speech(intervals, speech: tuple[float, float]) -> None:
    assert intervals, "no speech detected"
    start, end = speech
    assert intervals[0].start == pytest.approx(start, abs=TOLERANCE)
    assert intervals[-1].end == pytest.approx(end, abs=TOLERANCE)
    covered = sum(min(i.end, end) - max(i.start, start) for i in intervals if i.end > start)
    # eSpeak's samples vary a little from one synthesis to the next, and the pause after the
    # first sentence (~0.3 s of 3 s) is now and then scored as the silence it is.
    assert covered >= 0.85 * (end - start)


# --- real detection -------------------------------------------------------------------------


def test_detects_espeak_speech_where_it_is(media):
    path, speech = media.video_with_speech()
    fractions: list[float] = []
    detection = detect_voice(path, on_progress=fractions.append)
    assert detection.has_audio
    assert_matches_speech(detection.intervals, speech)
    assert all(0.5 < i.confidence <= 1 for i in detection.intervals)
    assert detection.duration == pytest.approx(probe_media(path).duration, abs=0.1)
    # Progress by media time decoded: many steps, never backwards, ending at 1.
    assert len(fractions) > 10 and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_detects_speech_over_a_tone_bed(speech_on_tone):
    path, speech = speech_on_tone
    assert_matches_speech(detect_voice(path).intervals, speech)


def test_a_stricter_threshold_and_padding_change_the_result(media):
    path, _ = media.video_with_speech()
    base = detect_voice(path).intervals
    padded = detect_voice(path, VoiceDetectionParams(padding_ms=500)).intervals
    assert padded[0].start == pytest.approx(base[0].start - 0.47, abs=0.01)  # 30 ms -> 500 ms


def test_nothing_is_detected_in_a_tone_or_in_silence(media, silent_video):
    assert detect_voice(media.video(seconds=3)).intervals == []
    assert detect_voice(silent_video).intervals == []


def test_no_audio_stream_means_no_voice(media):
    detection = detect_voice(media.video(audio=False))
    assert not detection.has_audio and detection.intervals == []


def test_non_media_is_invalid(media):
    with pytest.raises(InvalidMediaError, match=NOT_MEDIA):
        detect_voice(media.text_file())


def test_truncated_media_is_invalid(media, tmp_path):
    path, _ = media.video_with_speech()
    indexed_first = tmp_path / "faststart.mp4"  # the index survives the cut
    ffmpeg_make(indexed_first, ["-i", str(path), "-c", "copy", "-movflags", "+faststart"])
    truncated = tmp_path / "truncated.mp4"
    data = indexed_first.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidMediaError, match=r"truncated or corrupt: its audio stops at \d"):
        detect_voice(truncated)
    assert detect_voice(indexed_first).intervals  # the whole file is fine


# --- real muting ----------------------------------------------------------------------------


def test_mute_lowers_the_speech_with_measurable_fades(speech_on_tone, tmp_path):
    path, speech = speech_on_tone
    keep, fade = 10, 0.2
    params = VoiceMuteParams(keep_percentage=keep, fade_ms=int(fade * 1000))
    progress: list[float] = []
    result = mute_voice(path, tmp_path, params, on_progress=progress.append)
    assert result.status == "muted" and result.output.suffix == ".mp4"
    [muted] = result.detection.intervals
    assert_matches_speech([muted], speech)
    original, processed = decode_mono(path), decode_mono(result.output)
    assert len(processed) == pytest.approx(len(original), abs=0.03 * RATE)

    # Inside: keep 10 % is -20 dB. Outside the interval and its fades: unchanged.
    assert gain_db(original, processed, muted.start + 0.05, muted.end - 0.05) == pytest.approx(
        20 * math.log10(keep / 100), abs=1.0
    )
    assert gain_db(original, processed, 0.1, muted.start - fade - 0.05) == pytest.approx(0, abs=0.5)
    tail = (muted.end + fade + 0.05, len(original) / RATE - 0.1)
    assert gain_db(original, processed, *tail) == pytest.approx(0, abs=0.5)

    # The fades are ramps: measured 20 ms slices follow the linear envelope, strictly between
    # full and muted levels, going down before the start and up after the end.
    def expected_db(t: float) -> float:
        depth = min(max(min(t - muted.start + fade, muted.end + fade - t) / fade, 0), 1)
        return 20 * math.log10(1 - (1 - keep / 100) * depth)

    for edge, direction in ((muted.start - fade, 1), (muted.end, -1)):
        levels = []
        for k in range(1, 9):
            t = edge + k * fade / 10
            measured = gain_db(original, processed, t - 0.01, t + 0.01)
            assert measured == pytest.approx(expected_db(t), abs=1.5), (edge, t)
            assert -19 < measured < -0.3
            levels.append(measured)
        assert levels == sorted(levels, reverse=direction > 0)

    # The video is copied: the same packets, byte for byte; duration unchanged.
    assert video_packet_hashes(result.output) == video_packet_hashes(path)
    before, after = probe_media(path), probe_media(result.output)
    assert after.duration == pytest.approx(before.duration, abs=0.05)
    assert (after.video_codec, after.audio_codec) == ("h264", "aac")
    assert len(progress) > 1 and progress == sorted(progress) and progress[-1] == 1.0


def test_mute_audio_only_speech_gives_an_m4a(media, tmp_path):
    wav = media.speech_wav()
    result = mute_voice(wav, tmp_path, VoiceMuteParams(keep_percentage=0, fade_ms=0))
    assert result.output.name == "muted.m4a"
    info = probe_media(result.output)
    assert not info.has_video and info.audio_codec == "aac"
    assert result.as_dict()["video"] is None
    assert info.duration == pytest.approx(probe_media(wav).duration, abs=0.05)
    [muted] = result.detection.intervals
    original, processed = decode_mono(wav), decode_mono(result.output)
    assert gain_db(original, processed, muted.start + 0.05, muted.end - 0.05) < -40  # keep 0 %


def test_mute_without_voice_outputs_the_input_unchanged(media, tmp_path):
    source = media.video(seconds=3)
    result = mute_voice(source, tmp_path)
    assert result.status == "no_voice" and "unchanged" in result.as_dict()["message"]
    assert result.output.read_bytes() == source.read_bytes()
    assert result.as_dict()["muted_intervals"] == []


def test_mute_without_audio_writes_nothing(media, tmp_path):
    result = mute_voice(media.video(audio=False), tmp_path, VoiceMuteParams())
    assert result.status == "no_audio" and result.output is None
    assert result.as_dict()["message"] == "no audio: nothing to mute"
    assert list(tmp_path.iterdir()) == []


# --- the job types end to end ---------------------------------------------------------------


def run_job_on(path, job_type: str, owner, **params) -> Job:
    with open(path, "rb") as fh:
        job = job_create(
            job_type=job_type, params=params, owner=owner, inputs={"source": File(fh, name="x.mp4")}
        )
    run_burst_worker()
    job.refresh_from_db()
    return job


def outputs(job) -> list:
    return list(job.files.filter(role="output"))


@pytest.mark.django_db(transaction=True)
def test_detect_voice_job(media, user):
    path, speech = media.video_with_speech()
    job = run_job_on(path, "detect_voice", user, threshold=0.5, padding_ms=0)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.progress == 100 and job.stage == "done"
    intervals = [SpeechInterval(**i) for i in job.result["intervals"]]
    assert_matches_speech(intervals, speech)
    assert job.result["has_audio"] is True and "speech interval" in job.result["message"]
    assert outputs(job) == []


@pytest.mark.django_db(transaction=True)
def test_mute_voice_job(speech_on_tone, user):
    path, speech = speech_on_tone
    job = run_job_on(path, "mute_voice", user, keep_percentage=25, fade_ms=100)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.progress == 100 and job.result["status"] == "muted"
    assert job.result["video"] == "copied" and job.result["audio"] == "aac re-encoded"
    [muted] = job.result["muted_intervals"]
    assert_matches_speech([SpeechInterval(**muted)], speech)
    [output] = outputs(job)
    out_path = stored_path(output.name)
    original, processed = decode_mono(path), decode_mono(out_path)
    inside = gain_db(original, processed, muted["start"] + 0.05, muted["end"] - 0.05)
    assert inside == pytest.approx(20 * math.log10(0.25), abs=1.0)  # about -12 dB
    assert gain_db(original, processed, 0.1, muted["start"] - 0.2) == pytest.approx(0, abs=0.5)
    assert video_packet_hashes(out_path) == video_packet_hashes(path)


@pytest.mark.django_db(transaction=True)
def test_mute_voice_job_without_voice_returns_the_input(media, user):
    source = media.video(seconds=3)
    job = run_job_on(source, "mute_voice", user)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["status"] == "no_voice" and job.result["muted_intervals"] == []
    [output] = outputs(job)
    with default_storage.open(output.name, "rb") as fh:
        assert fh.read() == source.read_bytes()


@pytest.mark.django_db(transaction=True)
def test_voice_jobs_on_a_video_without_audio(media, user):
    silent = media.video(audio=False)
    mute = run_job_on(silent, "mute_voice", user)
    assert mute.status == JobStatus.COMPLETED, mute.error
    assert mute.result["message"] == "no audio: nothing to mute"
    assert mute.result["has_audio"] is False and outputs(mute) == []
    detect = run_job_on(silent, "detect_voice", user)
    assert detect.status == JobStatus.COMPLETED
    assert detect.result["message"] == "no audio: no voice to detect"
    assert detect.result["intervals"] == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("job_type", ["detect_voice", "mute_voice"])
def test_voice_jobs_fail_permanently_on_non_media(media, user, job_type):
    job = run_job_on(media.text_file(), job_type, user)
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert re.search(NOT_MEDIA, job.error), job.error
    assert outputs(job) == []


@pytest.mark.django_db(transaction=True)
def test_bad_params_create_no_job(media, user):
    with pytest.raises(InvalidJobParams) as err:
        with open(media.video(), "rb") as fh:
            job_create(
                job_type="mute_voice",
                params={"keep_percentage": 150, "threshold": 2},
                owner=user,
                inputs={"source": File(fh, name="x.mp4")},
            )
    fields = {tuple(d["loc"]) for d in err.value.details}
    assert fields == {("params", "keep_percentage"), ("params", "threshold")}
    assert Job.objects.count() == 0
