"""Voice muting: lower the detected speech to a percentage of its volume, video untouched.

One ffmpeg pass, run while the detection goes on: it starts as soon as the detection has decoded
the first audio frame, copies the video streams (never re-encoded) and re-encodes the first
audio track (the only one kept) to AAC, multiplied (`amultiply`) by a gain, one value per
sample, that a thread computes and writes to ffmpeg's stdin as far as the detection has made it
final (`speech_runs.SpeechTracker.committed`). The detection's decoding and scoring and ffmpeg's
encoding so run side by side from the start instead of one after the other. A file found to hold
no speech costs an encoding stopped at the detection's end (its output deleted): on the 60 s
talk of bench/media/mute.py, starting ffmpeg at the first certain speech instead cost 0.25 s.

At each interval the gain ramps linearly from 1 down to keep_percentage over the fade_ms
*before* the start, stays there for the whole interval, and ramps back up over the fade_ms
after the end: the speech itself never leaks through at full volume, and the fades are real
ramps, not steps. A file with no speech is copied byte for byte (ffmpeg never starts).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pydantic

from media_pipeline.ops.ffmpeg_run import FedFFmpeg, ProcessTracker
from media_pipeline.ops.probe import MediaInfo, probe_media
from media_pipeline.ops.voice_detect import (
    AudioFacts,
    VoiceDetection,
    VoiceDetectionParams,
    VoiceStream,
)

if TYPE_CHECKING:  # numpy (~14 MB) is imported where gains are computed, not by every worker
    import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_AUDIO_BITRATE = 192_000
MIN_AUDIO_BITRATE, MAX_AUDIO_BITRATE = 96_000, 320_000
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
# A channel layout as ffmpeg names it ("stereo", "5.1(side)"); others go by their channel count.
LAYOUT_NAME = re.compile(r"[A-Za-z0-9.()+_-]+")
# Gain fed past the decoded end: ffmpeg ends the audio with the shorter of its two inputs, so
# the gain must outlast the track (ffmpeg stops reading it there).
TAIL_SECONDS = 2.0
GAIN_BLOCKS_PER_SECOND = 4  # the gain goes to ffmpeg a quarter second at most at a time
# Shares of the job's progress: detection (decode + VAD) and the ffmpeg pass (bench/media/mute.py).
DETECT_SHARE = 0.3
PROGRESS_WAIT = 0.25  # seconds between progress reports while ffmpeg ends alone


class VoiceMuteParams(VoiceDetectionParams):
    keep_percentage: float = pydantic.Field(
        10.0, ge=0, le=100, description="volume kept in speech, percent of the original"
    )
    fade_ms: int = pydantic.Field(
        100, ge=0, le=5_000, description="length of the ramp into and out of each interval"
    )


# --- the gain (pure) ---------------------------------------------------------------------------


def gain(
    times: np.ndarray, spans: Sequence[tuple[float, float]], *, keep_percentage: float, fade: float
) -> np.ndarray:
    """The gain (float32) at each of `times` (seconds): 1 - cut * depth, where the depth is 1
    inside a span and falls linearly to 0 over `fade` seconds on either side of it."""
    import numpy as np

    depth = np.zeros(times.shape, dtype=np.float64)
    if times.size:
        low, high = times[0] - fade, times[-1] + fade
        for start, end in spans:
            if end < low or start > high:
                continue
            if fade > 0:
                ramp = np.minimum(times - (start - fade), (end + fade) - times) / fade
                np.maximum(depth, np.clip(ramp, 0.0, 1.0), out=depth)
            else:
                np.maximum(depth, (times >= start) & (times <= end), out=depth)
    cut = 1.0 - keep_percentage / 100.0
    return (1.0 - cut * depth).astype(np.float32)


# --- argv builder (pure) -----------------------------------------------------------------------


def mute_args(source: Path, output: Path, *, audio: AudioFacts, audio_bitrate: int) -> list[str]:
    """Copy every video stream; the first audio track times the gain read from stdin (32-bit
    floats, one per sample at the track's rate, copied to every channel by `pan`); AAC."""
    graph = "[0:a:0][1:a]amultiply[muted]"
    if audio.channels > 1:
        layout = audio.layout if LAYOUT_NAME.fullmatch(audio.layout) else f"{audio.channels}c"
        copies = "|".join(f"c{n}=c0" for n in range(audio.channels))
        graph = f"[1:a]pan={layout}|{copies}[gain];[0:a:0][gain]amultiply[muted]"
    return [
        "-i", str(source),
        "-f", "f32le", "-ar", str(audio.sample_rate), "-i", "pipe:0",
        "-filter_complex", graph,
        "-map", "0:v?", "-map", "[muted]",
        "-c:v", "copy", "-c:a", "aac", "-b:a", str(audio_bitrate),
        str(output),
    ]  # fmt: skip


def audio_bitrate_for(source_bitrate: int | None) -> int:
    """Re-encode near the source's audio bitrate, within sane AAC bounds."""
    if not source_bitrate:
        return DEFAULT_AUDIO_BITRATE
    return max(MIN_AUDIO_BITRATE, min(MAX_AUDIO_BITRATE, int(source_bitrate)))


def muted_suffix(format_name: str, major_brand: str, has_video: bool) -> str:
    """Container of the muted file: MP4/MOV sources stay MP4/MOV, anything else with video goes
    to Matroska (it holds any copied video codec next to AAC); audio-only becomes .m4a."""
    if format_name == MP4_FAMILY:
        if major_brand.strip() == "qt":
            return ".mov"
        return ".mp4" if has_video else ".m4a"
    return ".mkv" if has_video else ".m4a"


# --- the operation -----------------------------------------------------------------------------


@dataclass
class VoiceMuteResult:
    status: str  # "muted", "no_voice" or "no_audio"
    detection: VoiceDetection
    params: VoiceMuteParams
    output: Path | None = None
    has_video: bool = False

    MESSAGES = {
        "no_audio": "no audio: nothing to mute",
        "no_voice": "no voice found: the output is the input, unchanged",
    }

    @property
    def message(self) -> str:
        if self.status in self.MESSAGES:
            return self.MESSAGES[self.status]
        count = len(self.detection.intervals)
        keep = f"{self.params.keep_percentage:.4f}".rstrip("0").rstrip(".")
        return (
            f"muted {count} speech interval(s), {self.detection.speech_seconds:.1f} s, "
            f"to {keep} % volume"
        )

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "message": self.message,
            "has_audio": self.detection.has_audio,
            "duration": round(self.detection.duration, 3),
            "muted_intervals": [i.as_dict() for i in self.detection.intervals],
            "speech_seconds": round(self.detection.speech_seconds, 3),
            "keep_percentage": self.params.keep_percentage,
            "fade_ms": self.params.fade_ms,
            "video": "copied" if self.output and self.has_video else None,
            "audio": {"muted": "aac re-encoded", "no_voice": "copied"}.get(self.status),
        }


class _Frontier:
    """What the detection has made final, for the thread feeding ffmpeg the gain: the certain
    spans and the time before which the gain can no longer change; `final` once the detection
    has ended. `stop` releases the feed for good (the muting is abandoned)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._spans: list[tuple[float, float]] = []
        self._until = 0.0  # seconds: nothing is final before the track's first sample
        self._final = self._stopped = False

    def advance(self, spans: Sequence[tuple[float, float]], until: float, *, final=False) -> None:
        with self._changed:
            self._spans, self._until, self._final = list(spans), until, final
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def wait(self, ready: Callable[[float], bool]) -> tuple[list, float] | None:
        """(spans, until) once `ready(until)` or the frontier is final; None once stopped."""
        with self._changed:
            while not (self._stopped or self._final or ready(self._until)):
                self._changed.wait()
            return None if self._stopped else (self._spans, self._until)


def gain_blocks(
    frontier: _Frontier, *, offset: float, rate: int, params: VoiceMuteParams
) -> Iterator[bytes]:
    """The gain as ffmpeg reads it (float32, one per sample from the track's first at
    `offset`), a quarter second at most per block, as far as `frontier` has made it final;
    the final frontier lies TAIL_SECONDS past the track's end."""
    import numpy as np

    fade, sent, step = params.fade_ms / 1000.0, 0, max(1, rate // GAIN_BLOCKS_PER_SECOND)

    def final_samples(until: float) -> int:  # the samples before `until`
        return int((until - offset) * rate)

    def beyond(sent: int) -> Callable[[float], bool]:
        return lambda until: final_samples(until) > sent

    while (known := frontier.wait(beyond(sent))) is not None:
        spans, until = known
        stop = min(sent + step, final_samples(until))
        if stop <= sent:  # the final frontier, reached
            return
        times = offset + np.arange(sent, stop, dtype=np.float64) / rate
        yield gain(times, spans, keep_percentage=params.keep_percentage, fade=fade).tobytes()
        sent = stop


class _Muting:
    """One mute_voice run: the detection stream and, from its first audio frame, ffmpeg."""

    def __init__(self, source: Path, output_dir: Path, params, info, on_progress, tracker, timeout):
        self.source, self.output_dir, self.params, self.info = source, output_dir, params, info
        self.on_progress, self.tracker, self.timeout = on_progress, tracker, timeout
        self.fade = params.fade_ms / 1000.0
        self.stream = VoiceStream(
            source, params, duration=info.duration, on_progress=self._detected, on_audio=self._start
        )
        self.frontier = _Frontier()
        self.run: FedFFmpeg | None = None
        self.output: Path | None = None
        self._detect = self._last = 0.0

    def _detected(self, fraction: float) -> None:
        self._detect = fraction
        self._report()

    def _report(self) -> None:
        encoded = self.run.fraction if self.run else 0.0
        done = DETECT_SHARE * self._detect + (1 - DETECT_SHARE) * encoded
        if self.on_progress and done > self._last:
            self._last = done
            self.on_progress(done)

    def _start(self) -> None:
        facts, offset = self.stream.decoder.facts, self.stream.decoder.offset
        self.output = Path(self.output_dir) / f"muted{self._suffix()}"
        args = mute_args(
            self.source, self.output, audio=facts, audio_bitrate=audio_bitrate_for(facts.bitrate)
        )
        feed = gain_blocks(self.frontier, offset=offset, rate=facts.sample_rate, params=self.params)
        self.run = FedFFmpeg(
            args, feed, duration=self.info.duration, tracker=self.tracker, timeout=self.timeout
        )

    def _suffix(self) -> str:
        brand = self.stream.decoder.facts.major_brand
        return muted_suffix(self.info.format, brand, self.info.has_video)

    def detect_and_mute(self) -> VoiceDetection:
        """Detect while ffmpeg mutes what the detection has made final. On any error (a
        cancellation included) the feed stops and ffmpeg is killed."""
        try:
            return self._detect_and_mute()
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        self.frontier.stop()
        if self.run is not None:
            self.run.abort()

    def _detect_and_mute(self) -> VoiceDetection:
        for speech in self.stream:
            self.frontier.advance(*speech.committed(self.fade))
            self._report()
        detection = self.stream.result()
        if not detection.intervals:  # nothing to mute: the encoding so far is dropped
            self._abandon()
            if self.output is not None:
                self.output.unlink(missing_ok=True)
            return detection
        spans = [(i.start, i.end) for i in detection.intervals]
        self.frontier.advance(spans, detection.duration + TAIL_SECONDS, final=True)
        while not self.run.wait(PROGRESS_WAIT):
            self._report()
        self.run.finish()
        return detection


def mute_voice(
    source: Path,
    output_dir: Path,
    params: VoiceMuteParams | None = None,
    *,
    info: MediaInfo | None = None,
    on_progress: Callable[[float], None] | None = None,
    tracker: ProcessTracker | None = None,
    timeout: float | None = None,
) -> VoiceMuteResult:
    """Write `source` with its speech muted into `output_dir` (`info`: its probe, when the
    caller has it). No audio: no output. No voice: the output is a byte-for-byte copy of the
    input (equal to it in every stream by construction, where a remux could drop data tracks
    or metadata). `on_progress` gets the fraction done (detection and encoding)."""
    params = params or VoiceMuteParams()
    source = Path(source)
    info = info if info is not None else probe_media(source, rotation=False)
    if not info.has_audio:
        return VoiceMuteResult("no_audio", VoiceDetection(False, info.duration), params)
    muting = _Muting(source, output_dir, params, info, on_progress, tracker, timeout)
    detection = muting.detect_and_mute()
    if not detection.intervals:
        output = Path(output_dir) / f"muted{source.suffix.lower() or muting._suffix()}"
        shutil.copyfile(source, output)
        status = "no_voice"
    else:
        output, status = muting.output, "muted"
        logger.info("muted %d speech interval(s) of %s", len(detection.intervals), source)
    if on_progress:
        on_progress(1.0)
    return VoiceMuteResult(status, detection, params, output, info.has_video)
