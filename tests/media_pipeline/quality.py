"""Output-quality measurements of rendered files, with the real ffmpeg: EBU R128 loudness and true
peak (the `ebur128` filter), the stream format (PyAV), black and frozen frames (`blackdetect`,
`freezedetect`). Each reads what ffmpeg reports in its log (info level)."""

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from media_pipeline.ops.ffmpeg_run import run_ffmpeg


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP


def _summary_value(log: str, section: str, key: str) -> float:
    """A value of ebur128's Summary, e.g. ("Integrated loudness", "I") or ("True peak", "Peak")."""
    summary = log.rpartition("Summary:")[2]
    block = summary.partition(f"{section}:")[2]
    match = re.search(rf"^\s*{key}:\s*(-?inf|-?\d+(?:\.\d+)?)", block, re.MULTILINE)
    if not match:
        raise AssertionError(f"no '{section} / {key}' in the ebur128 summary:\n{log}")
    return float(match.group(1))


def measure_loudness(path: Path) -> Loudness:
    """Integrated loudness and true peak of the file's audio, as EBU R128 defines them. The
    per-frame log goes to the verbose level, under the info level read here (ffmpeg 5.x has no
    `framelog=quiet`)."""
    log = run_ffmpeg(
        ["-i", str(path), "-vn", "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        loglevel="info",
    )
    return Loudness(
        integrated=_summary_value(log, "Integrated loudness", "I"),
        true_peak=_summary_value(log, "True peak", "Peak"),
    )


@dataclass(frozen=True)
class StreamFormat:
    width: int
    height: int
    avg_frame_rate: Fraction
    video_codec: str
    pix_fmt: str
    audio_codec: str
    audio_rate: int


def stream_format(path: Path) -> StreamFormat:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        return StreamFormat(
            width=video.codec_context.width,
            height=video.codec_context.height,
            avg_frame_rate=Fraction(video.average_rate),
            video_codec=video.codec_context.name,
            pix_fmt=video.codec_context.pix_fmt,
            audio_codec=audio.codec_context.name,
            audio_rate=audio.codec_context.sample_rate,
        )


def _detector_events(path: Path, video_filter: str, marker: str) -> list[str]:
    """The log lines a detection filter prints (the last ones of the log: any event shows)."""
    log = run_ffmpeg(
        ["-i", str(path), "-an", "-vf", video_filter, "-f", "null", "-"], loglevel="info"
    )
    return [line for line in log.splitlines() if marker in line]


def black_frames(path: Path) -> list[str]:
    """Black intervals, down to a single frame (d=0): a cut that leaves a gap shows up."""
    return _detector_events(path, "blackdetect=d=0:pix_th=0.10", "black_start")


def frozen_frames(path: Path, *, fps: float) -> list[str]:
    """Frozen intervals of at least one repeated frame. freezedetect measures a freeze from the
    last different frame, so distinct frames span 1/fps and one repeat spans 2/fps: the minimum
    duration sits between. Only meaningful on a source that changes every frame (testsrc2) at the
    output's frame rate: then a repeat is a real freeze."""
    return _detector_events(
        path, f"freezedetect=n=-60dB:d={1.5 / fps:.4f}", "lavfi.freezedetect.freeze_start"
    )
