"""Tightening synthesized speech: silence trimmed at the edges, long inner pauses shortened.

Works on decoded PCM so that the cuts are exact and word timings can be remapped with the very
same spans: the provider's file is streamed through PyAV into a mono 16-bit WAV while a level
meter measures RMS energy per 10 ms window (numpy); the spans to keep are computed from those
levels, then copied span by span into the output WAV. Nothing holds the whole audio in memory.
"""

import itertools
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.tts.base import TtsRequestError

COPY_BLOCK = 1 << 16  # frames per read while copying spans


@dataclass(frozen=True)
class PausePolicy:
    max_pause: float = 0.3  # inner silences longer than this are cut down to this
    edge_pad: float = 0.05  # silence left before the first and after the last sound
    window: float = 0.01  # seconds per energy window
    relative_db: float = 40.0  # this much quieter than the loudest window counts as silence
    floor_db: float = -70.0  # never speech below this level (dBFS), however quiet the voice


@dataclass
class Tightened:
    wav: Path
    sample_rate: int
    samples: int
    source_samples: int
    kept: list[tuple[float, float]]  # spans of the source kept, in seconds, in order

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    @property
    def source_duration(self) -> float:
        return self.source_samples / self.sample_rate


class SilentSpeechError(TtsRequestError):
    """The provider returned audio without any sound in it."""


class LevelMeter:
    """RMS level in dBFS of consecutive fixed-size windows of a stream of int16 samples."""

    def __init__(self, window_samples: int):
        self.window = window_samples
        self._rest = np.zeros(0, dtype=np.int16)
        self._levels: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        data = np.concatenate([self._rest, samples]) if self._rest.size else samples
        full = data.size // self.window * self.window
        if full:
            self._levels.append(self._rms_db(data[:full].reshape(-1, self.window)))
        self._rest = data[full:].copy()

    def levels(self) -> np.ndarray:
        """All windows' levels; a last partial window counts as a window."""
        tail = [self._rms_db(self._rest.reshape(1, -1))] if self._rest.size else []
        return np.concatenate([*self._levels, *tail]) if self._levels or tail else np.zeros(0)

    @staticmethod
    def _rms_db(blocks: np.ndarray) -> np.ndarray:
        power = np.mean(np.square(blocks.astype(np.float64) / 32768.0), axis=1)
        return 10.0 * np.log10(np.maximum(power, 1e-12))


def decode_to_wav(
    source: Path,
    wav_path: Path,
    *,
    window: float,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[int, np.ndarray, int]:
    """Stream `source` into a mono s16 WAV at its own sample rate, measuring window levels.
    Returns (sample_rate, levels in dBFS per window, number of samples)."""
    try:
        container = av.open(str(source))
    except av.FFmpegError as exc:
        raise InvalidMediaError(f"the synthesized audio is unreadable ({exc})") from None
    with container, wave.open(str(wav_path), "wb") as out:
        if not container.streams.audio:
            raise InvalidMediaError("the synthesized file has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        total = container.duration / av.time_base if container.duration else 0.0
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        meter = LevelMeter(max(1, round(rate * window)))
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        count = 0

        def write(frames) -> None:
            nonlocal count
            for frame in frames:
                samples = frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                meter.feed(samples)
                out.writeframes(samples.tobytes())
                count += samples.size

        for frame in container.decode(stream):
            write(resampler.resample(frame))
            if on_progress and total and frame.time is not None:
                on_progress(min(1.0, frame.time / total))
        write(resampler.resample(None))
    return rate, meter.levels(), count


def kept_spans(
    levels: np.ndarray, *, window_samples: int, total: int, rate: int, policy: PausePolicy
) -> list[tuple[int, int]]:
    """Sample spans [start, end) to keep: from just before the first sound to just after the
    last, with every inner silence longer than max_pause cut down to max_pause (half of it kept
    after the sound that precedes it, half before the sound that follows)."""
    if levels.size == 0:
        raise SilentSpeechError("the synthesized audio is empty")
    threshold = max(policy.floor_db, float(levels.max()) - policy.relative_db)
    runs = _loud_runs(levels > threshold)
    if not runs:
        raise SilentSpeechError("the synthesized audio is silent (is the text speakable?)")
    pad = round(policy.edge_pad * rate)
    half = round(policy.max_pause * rate / 2)
    spans: list[tuple[int, int]] = []
    start = max(0, runs[0][0] * window_samples - pad)
    for (_, prev_end), (next_start, _) in itertools.pairwise(runs):
        gap_start, gap_end = prev_end * window_samples, next_start * window_samples
        if gap_end - gap_start > 2 * half:
            spans.append((start, gap_start + half))
            start = gap_end - half
    spans.append((start, min(total, runs[-1][1] * window_samples + pad)))
    return spans


def _loud_runs(loud: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) window indices of consecutive loud windows."""
    edges = np.diff(np.concatenate([[0], loud.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def copy_spans(source_wav: Path, target_wav: Path, spans: list[tuple[int, int]]) -> int:
    """Write the given sample spans of a WAV, in order, into a new WAV; returns samples written."""
    written = 0
    with wave.open(str(source_wav), "rb") as src, wave.open(str(target_wav), "wb") as out:
        out.setparams(src.getparams())
        for start, end in spans:
            src.setpos(start)
            remaining = end - start
            while remaining > 0:
                chunk = src.readframes(min(remaining, COPY_BLOCK))
                if not chunk:
                    break
                out.writeframes(chunk)
                frames = len(chunk) // (src.getsampwidth() * src.getnchannels())
                remaining -= frames
                written += frames
    return written


def tighten_speech(
    source: Path,
    work_dir: Path,
    *,
    policy: PausePolicy = PausePolicy(),
    on_progress: Callable[[float], None] | None = None,
) -> Tightened:
    """Decode the provider's audio, cut edge silence and long pauses; returns the new WAV and
    the kept spans (for remapping word timings)."""
    decoded = work_dir / "decoded.wav"
    rate, levels, total = decode_to_wav(
        source, decoded, window=policy.window, on_progress=on_progress
    )
    window_samples = max(1, round(rate * policy.window))
    spans = kept_spans(levels, window_samples=window_samples, total=total, rate=rate, policy=policy)
    tightened = work_dir / "tightened.wav"
    samples = copy_spans(decoded, tightened, spans)
    decoded.unlink()
    if on_progress:
        on_progress(1.0)
    return Tightened(
        wav=tightened,
        sample_rate=rate,
        samples=samples,
        source_samples=total,
        kept=[(a / rate, b / rate) for a, b in spans],
    )
