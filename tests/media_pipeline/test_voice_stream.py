"""Muting while detecting: the speech tracker fed a window at a time gives exactly the intervals
of the whole-sequence rules (kept below as they were first written) and never commits a gain it
would later change; the gain is fed only as far as it is final; ffmpeg multiplies the audio by
the fed gain sample-aligned; it starts with the detection, is stopped when there is no speech
and dies with an error, a cancellation or a failing feed."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_pipeline.ops.errors import FFmpegError, InvalidMediaError
from media_pipeline.ops.ffmpeg_run import FedFFmpeg
from media_pipeline.ops.speech_runs import (
    HYSTERESIS,
    SpeechInterval,
    SpeechTracker,
    VoiceDetectionParams,
)
from media_pipeline.ops.voice_detect import WINDOW_SECONDS, AudioFacts
from media_pipeline.ops.voice_mute import (
    VoiceMuteParams,
    _Frontier,
    gain,
    gain_blocks,
    mute_args,
    mute_voice,
)
from tests.media_pipeline.test_voice import RATE, decode_mono, gain_db

W = WINDOW_SECONDS

# --- the whole-sequence rules, as first written (the reference) -------------------------------


def _raw_runs(probs, threshold, min_silence_windows):
    low = max(threshold - HYSTERESIS, 0.01)
    runs, start, silence_start = [], None, None
    for i, p in enumerate(probs):
        if p >= threshold:
            silence_start = None
            if start is None:
                start = i
        elif start is not None and p < low:
            if silence_start is None:
                silence_start = i
            if i + 1 - silence_start >= min_silence_windows:
                runs.append([start, silence_start, float(sum(probs[start:silence_start]))])
                runs[-1].append(silence_start - start)
                start = silence_start = None
    if start is not None:
        stop = silence_start if silence_start is not None else len(probs)
        runs.append([start, stop, float(sum(probs[start:stop])), stop - start])
    return runs


def reference_intervals(probs, *, params, duration, offset):
    per_window = 1000.0 * W
    runs = _raw_runs(probs, params.threshold, max(1, round(params.min_silence_ms / per_window)))
    merged = []
    for run in runs:
        gap = (params.merge_gap_ms + 2 * params.padding_ms) / per_window
        if merged and run[0] - merged[-1][1] <= gap:
            merged[-1][1] = run[1]
            merged[-1][2] += run[2]
            merged[-1][3] += run[3]
        else:
            merged.append(list(run))
    pad, intervals = params.padding_ms / 1000.0, []
    for first, stop, prob_sum, windows in merged:
        if (stop - first) * per_window < params.min_speech_ms:
            continue
        start = max(0.0, offset + first * W - pad)
        end = min(duration, offset + stop * W + pad)
        if end > start:
            intervals.append(SpeechInterval(start, end, prob_sum / max(1, windows)))
    return intervals


# Probabilities in runs (speech, doubt, silence), so that every rule gets exercised.
LEVELS = st.sampled_from([0.0, 0.05, 0.3, 0.4, 0.5, 0.6, 0.9, 1.0])
SEQUENCES = st.lists(st.tuples(LEVELS, st.integers(1, 25)), max_size=30).map(
    lambda parts: [value for value, count in parts for _ in range(count)]
)
PARAMS = st.builds(
    VoiceDetectionParams,
    threshold=st.sampled_from([0.3, 0.5, 0.7]),
    min_speech_ms=st.sampled_from([0, 100, 250, 600]),
    min_silence_ms=st.sampled_from([0, 50, 100, 300]),
    merge_gap_ms=st.sampled_from([0, 100, 300, 1000]),
    padding_ms=st.sampled_from([0, 30, 200]),
)


@settings(max_examples=300, deadline=None)
@given(probs=SEQUENCES, params=PARAMS, fade_ms=st.sampled_from([0, 50, 100, 500, 2000]))
def test_the_tracker_matches_the_rules_and_never_takes_back_a_committed_gain(
    probs, params, fade_ms
):
    """Fed a window at a time, the gain computed up to each frontier from what was committed
    then (as the muting sends it) is the gain of the final intervals."""
    offset, fade = 0.25, fade_ms / 1000
    duration = offset + len(probs) * W
    final = reference_intervals(probs, params=params, duration=duration, offset=offset)
    times = offset + np.arange(0.0, len(probs) * W, 0.004)
    expected = gain(times, [(i.start, i.end) for i in final], keep_percentage=10, fade=fade)

    tracker = SpeechTracker(params, window_seconds=W, offset=offset)
    sent = np.zeros(0, dtype=np.float32)
    for p in probs:
        tracker.add([p])
        spans, until = tracker.committed(fade)
        upto = int(np.searchsorted(times, until))
        if upto > sent.size:
            more = gain(times[sent.size : upto], spans, keep_percentage=10, fade=fade)
            sent = np.concatenate([sent, more])
        for start, end in spans:  # only speech that stays speech is committed
            assert any(
                i.start <= start + 1e-9 and min(end, duration) <= i.end + 1e-9 for i in final
            )
    assert np.abs(sent - expected[: sent.size]).max(initial=0) <= 1e-6
    assert tracker.finish(duration=duration) == final


def audio_facts(path) -> AudioFacts:
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(audio=0))
        return AudioFacts(frame.sample_rate, frame.layout.name, len(frame.layout.channels))


def test_ffmpeg_multiplies_the_audio_by_the_fed_gain_sample_aligned(media, tmp_path):
    source = media.video(seconds=3, audio=True)
    spans = [(k * 0.4, k * 0.4 + 0.2) for k in range(8)]  # 0.0-0.2, 0.4-0.6, ...
    out, facts = tmp_path / "fed.mp4", audio_facts(source)
    times = np.arange(0, 5 * facts.sample_rate) / facts.sample_rate
    blocks = [  # blocks that end anywhere on the timeline
        block.tobytes()
        for block in np.array_split(gain(times, spans, keep_percentage=10, fade=0), 7)
    ]
    with FedFFmpeg(mute_args(source, out, audio=facts, audio_bitrate=128_000), blocks) as run:
        run.wait()
        run.finish()
    original, processed = decode_mono(source), decode_mono(out)
    assert len(processed) == pytest.approx(len(original), abs=0.03 * RATE)
    for k in range(7):
        inside, between = k * 0.4 + 0.1, k * 0.4 + 0.3
        assert gain_db(original, processed, inside - 0.05, inside + 0.05) == pytest.approx(
            -20, abs=1.5
        )
        assert gain_db(original, processed, between - 0.05, between + 0.05) == pytest.approx(
            0, abs=0.5
        )


class Cancelled(Exception):
    pass


class Processes:
    """A ProcessTracker that remembers what it was given, and how far detection was then."""

    def __init__(self):
        self.started, self.progress = [], 0.0

    def track_process(self, process):
        self.started.append((process, self.progress))

    def untrack_process(self, process):
        pass


def test_muting_starts_with_the_detection(media, tmp_path):
    path, _ = media.video_with_speech(tail=4.0)
    processes = Processes()

    def report(fraction):
        processes.progress = fraction

    result = mute_voice(path, tmp_path, VoiceMuteParams(), on_progress=report, tracker=processes)
    assert result.status == "muted"
    [(process, at)] = processes.started
    assert process.returncode == 0
    assert at == 0.0  # ffmpeg started before any audio was scored


def test_without_voice_the_early_encoding_is_stopped_and_dropped(media, tmp_path):
    source = media.video(seconds=3)  # a tone: audio, no speech
    processes = Processes()
    result = mute_voice(source, tmp_path, VoiceMuteParams(), tracker=processes)
    assert result.status == "no_voice"
    [(process, _)] = processes.started
    assert process.poll() is not None  # killed and reaped, not left encoding
    assert list(tmp_path.iterdir()) == [result.output]  # only the copy of the input
    assert result.output.read_bytes() == source.read_bytes()


# --- the gain feed ----------------------------------------------------------------------------


def test_the_gain_is_fed_only_as_far_as_the_frontier_then_past_the_final_one():
    params = VoiceMuteParams(keep_percentage=10, fade_ms=100)
    frontier = _Frontier()
    blocks = gain_blocks(frontier, offset=0.5, rate=1000, params=params)  # 250 samples a block
    first = [(1.0, 1.2)]
    frontier.advance(first, 1.1)  # 600 samples from 0.5 s are final
    sizes = [len(next(blocks)) // 4 for _ in range(3)]
    assert sizes == [250, 250, 100]  # a fourth would wait for the frontier
    final = [(1.0, 1.3)]  # the span grew past where the gain was final
    frontier.advance(final, 2.0, final=True)
    rest = b"".join(blocks)  # ends by itself at the final frontier
    fed = np.frombuffer(rest, dtype=np.float32)
    assert fed.size == 1500 - 600
    times = 0.5 + np.arange(600, 1500) / 1000
    assert np.array_equal(fed, gain(times, final, keep_percentage=10, fade=0.1))


def test_a_stopped_frontier_releases_a_waiting_feed():
    frontier = _Frontier()
    blocks = gain_blocks(frontier, offset=0.0, rate=1000, params=VoiceMuteParams())
    fed: list[bytes] = []
    thread = threading.Thread(target=lambda: fed.extend(blocks))
    thread.start()
    thread.join(timeout=0.2)
    assert thread.is_alive()  # waiting: nothing is final yet
    frontier.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and fed == []


def test_a_failing_source_kills_ffmpeg_and_is_the_error_reported(media, tmp_path):
    source = media.video(seconds=2, audio=True)
    facts = audio_facts(source)

    def failing():
        yield np.ones(facts.sample_rate // 10, dtype=np.float32).tobytes()
        raise InvalidMediaError("the audio could not be decoded")

    run = FedFFmpeg(
        mute_args(source, tmp_path / "o.mp4", audio=facts, audio_bitrate=128_000), failing()
    )
    with pytest.raises(InvalidMediaError, match="could not be decoded"):
        run.finish()
    assert run.process.returncode != 0  # killed, not left waiting for the rest


def test_an_error_while_detecting_kills_the_muting_ffmpeg(media, tmp_path):
    path, _ = media.video_with_speech(tail=4.0)
    processes = Processes()

    def report(fraction):
        processes.progress = fraction
        if processes.started and fraction > 0.2:
            raise Cancelled  # as a job's cancellation surfaces

    with pytest.raises(Cancelled):
        mute_voice(path, tmp_path, VoiceMuteParams(), on_progress=report, tracker=processes)
    [(process, _)] = processes.started
    assert process.poll() is not None and process.returncode != 0  # killed, reaped


def test_a_failing_muting_ffmpeg_is_a_readable_error(media, tmp_path):
    source = media.video(seconds=2, audio=True)
    facts = AudioFacts(sample_rate=44_100, layout="no-such-layout", channels=2)
    with pytest.raises(FFmpegError, match="ffmpeg failed"):
        gain_bytes = [np.ones(44_100, dtype=np.float32).tobytes()]
        args = mute_args(source, tmp_path / "o.mp4", audio=facts, audio_bitrate=1)
        with FedFFmpeg(args, gain_bytes) as run:
            run.wait()
            run.finish()
