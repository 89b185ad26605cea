"""Steps shared by the job types that render videos: subtitles to burn, outputs to store."""

from pathlib import Path

from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.render import Subtitles, build_thumbnail_args
from media_pipeline.ops.subtitles import SubtitleStyle, build_ass, default_fonts_dir


def subtitles_to_burn(
    ctx, srt_text: str, *, width: int, height: int, style: SubtitleStyle, words=None
) -> Subtitles:
    """Write the ASS for a `width`x`height` output into the job's temp dir, with the shipped fonts."""
    path = Path(ctx.temp_dir) / "subtitles.ass"
    path.write_text(
        build_ass(srt_text, width=width, height=height, style=style, words=words), encoding="utf-8"
    )
    return Subtitles(str(path), str(default_fonts_dir()))


def store_video_with_thumbnail(
    ctx,
    video: Path,
    *,
    duration: float,
    thumbnail: Path | None = None,
    label: str = "video",
    thumbnail_label: str = "thumbnail",
) -> None:
    """Register a rendered video on the job, with its JPEG `thumbnail` (made by the render), or
    else one taken from its middle now."""
    if thumbnail is None:
        thumbnail = video.with_suffix(".jpg")
        run_ffmpeg(build_thumbnail_args(str(video), str(thumbnail), at=duration / 2), tracker=ctx)
    ctx.add_file(video, label=label)
    ctx.add_file(thumbnail, label=thumbnail_label)
