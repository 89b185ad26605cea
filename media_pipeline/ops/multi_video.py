"""Multi-video edits: secondary clips inserted over the main video where the subtitles mention
their keywords; subtitles burned in; one encode."""

from dataclasses import dataclass

import ffmpeg

from media_pipeline.ops.encoder import x264_params
from media_pipeline.ops.keyword_match import Insert
from media_pipeline.ops.render import Subtitles


@dataclass(frozen=True)
class Secondary:
    path: str
    duration: float


def insert_offsets(inserts: list[Insert], secondaries: list[Secondary]) -> list[float]:
    """Where each insert starts inside its secondary video: consecutive inserts of the same video
    show consecutive parts of it (wrapping around), not the same first seconds again."""
    used = [0.0] * len(secondaries)
    offsets = []
    for ins in inserts:
        source = secondaries[ins.source]
        offset = used[ins.source] if used[ins.source] + ins.duration <= source.duration else 0.0
        offsets.append(round(offset, 3))
        used[ins.source] = offset + ins.duration
    return offsets


def build_multi_video_args(
    *,
    main: str,
    size: tuple[int, int],
    secondaries: list[Secondary],
    inserts: list[Insert],
    output: str,
    subtitles: Subtitles | None,
    main_has_audio: bool = True,
    soundtrack: str | None = None,
    duration: float | None = None,
    x264_preset: str = "medium",
    crf: int = 20,
) -> list[str]:
    """The edit's ffmpeg arguments. `soundtrack`: an audio file that replaces the main video's
    sound (AAC); `duration`: the output stops there (seconds)."""
    width, height = size
    base = ffmpeg.input(main)
    video = base.video
    for ins, offset in zip(inserts, insert_offsets(inserts, secondaries), strict=True):
        clip = (
            ffmpeg.input(secondaries[ins.source].path, ss=f"{offset:.3f}", t=f"{ins.duration:.3f}")
            .video.filter("scale", w=width, h=height, force_original_aspect_ratio="increase")
            .filter("crop", w=width, h=height)
            .filter("setsar", r=1)
            .filter("setpts", expr=f"PTS-STARTPTS+{ins.start:.3f}/TB")
        )
        end = ins.start + ins.duration
        video = ffmpeg.overlay(
            video, clip, eof_action="pass", enable=f"between(t,{ins.start:.3f},{end:.3f})"
        )
    if subtitles:
        video = video.filter("ass", filename=subtitles.ass_path, fontsdir=subtitles.fonts_dir)
    video = video.filter("format", pix_fmts="yuv420p")
    options = {"vcodec": "libx264", "preset": x264_preset, "crf": crf, "movflags": "+faststart",
               "x264-params": x264_params(x264_preset)}  # fmt: skip
    if soundtrack:
        streams = [video, ffmpeg.input(soundtrack).audio]
        options.update(acodec="aac", audio_bitrate="192k")
    elif main_has_audio:
        streams = [video, base.audio]
        options["acodec"] = "aac" if duration else "copy"  # a cut re-encodes the sound
    else:
        streams = [video]
    if duration:
        options["t"] = f"{duration:.3f}"
    return ffmpeg.output(*streams, output, **options).get_args()
