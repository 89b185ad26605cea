"""Voice muting: lower the detected speech to a percentage of its volume, video untouched.

One ffmpeg pass, run while the detection goes on: as soon as speech is certain
(`speech_runs.SpeechTracker.committed`), ffmpeg starts copying the video streams (never
re-encoded) and re-encoding the first audio track (the only one kept) to AAC, multiplied
(`amultiply`) by a gain that Python computes, one value per sample, and feeds through ffmpeg's
stdin up to where it can no longer change. The detection's decoding and scoring and ffmpeg's
encoding so run side by side instead of one after the other.

At each interval the gain ramps linearly from 1 down to keep_percentage over the fade_ms
*before* the start, stays there for the whole interval, and ramps back up over the fade_ms
after the end: the speech itself never leaks through at full volume, and the fades are real
ramps, not steps. A file with no speech is copied byte for byte (ffmpeg never starts).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Sequence
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


class _GainFeed:
    """Sends the gain to a running ffmpeg, sample by sample from the track's first, up to the
    time the detection has made final."""

    def __init__(self, run: FedFFmpeg, *, offset: float, rate: int, params: VoiceMuteParams):
        self.run, self.offset, self.rate, self.params = run, offset, rate, params
        self.sent = 0  # samples

    def send(self, spans, until: float) -> None:
        stop = int((until - self.offset) * self.rate)
        if stop <= self.sent:
            return
        import numpy as np

        times = self.offset + np.arange(self.sent, stop, dtype=np.float64) / self.rate
        values = gain(
            times,
            spans,
            keep_percentage=self.params.keep_percentage,
            fade=self.params.fade_ms / 1000.0,
        )
        self.run.feed(values.tobytes())
        self.sent = stop


class _Muting:
    """One mute_voice run: the detection stream and, once speech is certain, ffmpeg."""

    def __init__(self, source: Path, output_dir: Path, params, info, on_progress, tracker, timeout):
        self.source, self.output_dir, self.params, self.info = source, output_dir, params, info
        self.on_progress, self.tracker, self.timeout = on_progress, tracker, timeout
        self.fade = params.fade_ms / 1000.0
        self.stream = VoiceStream(
            source, params, duration=info.duration, on_progress=self._detected
        )
        self.run: FedFFmpeg | None = None
        self.feed: _GainFeed | None = None
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
        facts = self.stream.decoder.facts
        self.output = Path(self.output_dir) / f"muted{self._suffix()}"
        args = mute_args(
            self.source, self.output, audio=facts, audio_bitrate=audio_bitrate_for(facts.bitrate)
        )
        self.run = FedFFmpeg(
            args, duration=self.info.duration, tracker=self.tracker, timeout=self.timeout
        )
        offset = self.stream.decoder.offset
        self.feed = _GainFeed(self.run, offset=offset, rate=facts.sample_rate, params=self.params)

    def _suffix(self) -> str:
        brand = self.stream.decoder.facts.major_brand
        return muted_suffix(self.info.format, brand, self.info.has_video)

    def detect_and_mute(self) -> VoiceDetection:
        """Detect; muting starts with the first certain speech and follows the detection.
        On any error (a cancellation included) ffmpeg is killed."""
        try:
            return self._detect_and_mute()
        except BaseException:
            if self.run is not None:
                self.run.abort()
            raise

    def _detect_and_mute(self) -> VoiceDetection:
        for speech in self.stream:
            spans, until = speech.committed(self.fade)
            if self.run is None and spans:
                self._start()
            if self.run is not None:
                self.feed.send(spans, until)
                self._report()
        detection = self.stream.result()
        if detection.intervals:
            if self.run is None:  # speech certain only at the end
                self._start()
            spans = [(i.start, i.end) for i in detection.intervals]
            self.feed.send(spans, detection.duration + TAIL_SECONDS)
            self.run.close()
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
    info = info if info is not None else probe_media(source)
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
