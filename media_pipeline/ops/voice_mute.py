"""Voice muting: lower the detected speech to a percentage of its volume, video untouched.

One ffmpeg pass: the video streams are copied (never re-encoded), the first audio track (the
only one kept) goes through a `volume` filter whose gain is a piecewise-linear envelope of time, evaluated for every
256-sample frame (about 6 ms at 44.1 kHz), and is re-encoded to AAC. At each interval the gain
ramps from 1 down to keep_percentage over the fade_ms *before* the start, stays there for the
whole interval, and ramps back up over the fade_ms after the end: the speech itself never leaks
through at full volume, and the fades are real ramps, not steps.
"""

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import ffmpeg
import pydantic

from media_pipeline.ops.ffmpeg_run import ProcessTracker, run_ffmpeg
from media_pipeline.ops.probe import MediaInfo, probe_media
from media_pipeline.ops.voice_detect import (
    SpeechInterval,
    VoiceDetection,
    VoiceDetectionParams,
    detect_voice,
)

logger = logging.getLogger(__name__)

GAIN_STEP_SAMPLES = 256  # audio frame size, so the gain envelope moves in ~6 ms steps
# Linux caps one argv string at 128 KiB; a longer filter graph (thousands of intervals) is
# handed to ffmpeg as a file with `-/filter_complex` (`ffmpeg_run` says it the way an older
# ffmpeg understands).
MAX_INLINE_FILTER_CHARS = 64_000
DEFAULT_AUDIO_BITRATE = 192_000
MIN_AUDIO_BITRATE, MAX_AUDIO_BITRATE = 96_000, 320_000
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"


class VoiceMuteParams(VoiceDetectionParams):
    keep_percentage: float = pydantic.Field(
        10.0, ge=0, le=100, description="volume kept in speech, percent of the original"
    )
    fade_ms: int = pydantic.Field(
        100, ge=0, le=5_000, description="length of the ramp into and out of each interval"
    )


# --- the gain envelope (pure) ------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def _depth(interval: SpeechInterval, fade: float) -> str:
    """0 outside, 1 inside the interval, linear over `fade` seconds on either side."""
    if fade <= 0:
        return f"between(t,{_num(interval.start)},{_num(interval.end)})"
    before, after = interval.start - fade, interval.end + fade
    return f"clip(min(t-{_num(before)},{_num(after)}-t)/{_num(fade)},0,1)"


def _depth_tree(intervals: Sequence[SpeechInterval], fade: float) -> str:
    """The depth of the interval nearest to t, chosen by a balanced tree of comparisons at the
    midpoints between intervals: O(log n) per frame, however many intervals. Where two fades
    overlap, both ramps are equal at the midpoint, so the envelope stays continuous."""
    if len(intervals) == 1:
        return _depth(intervals[0], fade)
    middle = len(intervals) // 2
    split = (intervals[middle - 1].end + intervals[middle].start) / 2
    left = _depth_tree(intervals[:middle], fade)
    right = _depth_tree(intervals[middle:], fade)
    return f"if(lt(t,{_num(split)}),{left},{right})"


def gain_expression(
    intervals: Sequence[SpeechInterval], *, keep_percentage: float, fade_ms: int
) -> str:
    """ffmpeg expression of the gain at time t (intervals sorted and disjoint). t is NaN while
    the filter initialises: the gain is then 1, which silences ffmpeg's warning."""
    if not intervals:
        return "1"
    cut = 1.0 - keep_percentage / 100.0
    depth = _depth_tree(sorted(intervals, key=lambda i: i.start), fade_ms / 1000.0)
    return f"if(isnan(t),1,1-{_num(cut)}*{depth})"


# --- argv builders (pure) ----------------------------------------------------------------------


def mute_args(
    source: Path,
    output: Path,
    *,
    intervals: Sequence[SpeechInterval],
    keep_percentage: float,
    fade_ms: int,
    audio_bitrate: int = DEFAULT_AUDIO_BITRATE,
) -> list[str]:
    """Copy every video stream, run the first audio track through the gain envelope, AAC."""
    src = ffmpeg.input(str(source))
    volume = gain_expression(intervals, keep_percentage=keep_percentage, fade_ms=fade_ms)
    audio = (
        src["a:0"]
        .filter("asetnsamples", n=GAIN_STEP_SAMPLES, p=0)  # p=0: no padding of the last frame
        .filter("volume", volume=volume, eval="frame")
    )
    return ffmpeg.output(
        src["v?"], audio, str(output), vcodec="copy", acodec="aac", audio_bitrate=audio_bitrate
    ).get_args()


def spill_long_filter(args: list[str], script: Path) -> list[str]:
    """Move a filter graph too long for one argv string into `script`, read by ffmpeg through
    `-/filter_complex` (ffmpeg >= 7; `ffmpeg_run.in_dialect` turns it into
    `-filter_complex_script` for 5.x/6.x). Short graphs stay inline, visible in the logs."""
    if "-filter_complex" not in args:
        return args
    at = args.index("-filter_complex")
    if len(args[at + 1]) <= MAX_INLINE_FILTER_CHARS:
        return args
    script.write_text(args[at + 1])
    return [*args[:at], "-/filter_complex", str(script), *args[at + 2 :]]


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
        return (
            f"muted {count} speech interval(s), {self.detection.speech_seconds:.1f} s, "
            f"to {_num(self.params.keep_percentage)} % volume"
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


def _container_facts(path: Path) -> tuple[str, int | None]:
    """The MP4 major brand (tells MOV from MP4) and the first audio track's bitrate."""
    with av.open(str(path)) as container:
        brand = container.metadata.get("major_brand", "")
        audio = container.streams.audio[0] if container.streams.audio else None
        bitrate = (audio.bit_rate or audio.codec_context.bit_rate) if audio else None
    return brand, bitrate


def mute_speech(
    source: Path,
    output_dir: Path,
    detection: VoiceDetection,
    params: VoiceMuteParams,
    *,
    info: MediaInfo,
    on_progress: Callable[[float], None] | None = None,
    tracker: ProcessTracker | None = None,
    timeout: float | None = None,
) -> VoiceMuteResult:
    """Write `source` with the detected speech muted into `output_dir` (`info`: its probe).
    No audio: no output. No voice: the output is a byte-for-byte copy of the input."""
    if not detection.has_audio:
        return VoiceMuteResult("no_audio", detection, params)
    brand, bitrate = _container_facts(source)
    suffix = muted_suffix(info.format, brand, info.has_video)
    if not detection.intervals:
        # A byte-for-byte copy (under the uploaded name's extension): equal to the input in
        # every stream by construction, where a remux could drop data tracks or metadata.
        output = Path(output_dir) / f"muted{source.suffix.lower() or suffix}"
        shutil.copyfile(source, output)
        if on_progress:
            on_progress(1.0)
        return VoiceMuteResult("no_voice", detection, params, output, info.has_video)
    output = Path(output_dir) / f"muted{suffix}"
    args = mute_args(
        source,
        output,
        intervals=detection.intervals,
        keep_percentage=params.keep_percentage,
        fade_ms=params.fade_ms,
        audio_bitrate=audio_bitrate_for(bitrate),
    )
    args = spill_long_filter(args, Path(output_dir) / "mute-filter.txt")
    logger.info("muting %d speech interval(s) of %s", len(detection.intervals), source)
    run_ffmpeg(
        args, duration=detection.duration, on_progress=on_progress, tracker=tracker, timeout=timeout
    )
    return VoiceMuteResult("muted", detection, params, output, info.has_video)


def mute_voice(
    source: Path,
    output_dir: Path,
    params: VoiceMuteParams | None = None,
    *,
    on_detect_progress: Callable[[float], None] | None = None,
    on_mute_progress: Callable[[float], None] | None = None,
    tracker: ProcessTracker | None = None,
) -> VoiceMuteResult:
    """Detect speech in `source`, then mute it (see `mute_speech`)."""
    params = params or VoiceMuteParams()
    source = Path(source)
    info = probe_media(source)
    detection = detect_voice(source, params, on_progress=on_detect_progress, info=info)
    return mute_speech(
        source,
        output_dir,
        detection,
        params,
        info=info,
        on_progress=on_mute_progress,
        tracker=tracker,
    )
