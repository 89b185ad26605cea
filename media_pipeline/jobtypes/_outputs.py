"""Output handling shared by the job types that render videos."""

from pathlib import Path

from ..ffmpeg_run import run_ffmpeg
from ..render import build_thumbnail_args


def store_video_with_thumbnail(
    ctx, video: Path, *, duration: float, label: str = "video", thumbnail_label: str = "thumbnail"
) -> None:
    """Register a rendered video on the job, with a JPEG thumbnail taken from its middle."""
    thumbnail = video.with_suffix(".jpg")
    run_ffmpeg(build_thumbnail_args(str(video), str(thumbnail), at=duration / 2), tracker=ctx)
    ctx.add_file(video, label=label)
    ctx.add_file(thumbnail, label=thumbnail_label)
