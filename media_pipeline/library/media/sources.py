"""Source videos of the library: stored uploads with a thumbnail and their probe.

Files always go through the rows' FileFields (`library_upload_to` names them), so no storage
name is ever built from user input, and deleting a row here deletes its files.
"""

import contextlib
import logging
import tempfile
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File

from core import storage
from media_pipeline.library.models import SourceVideo
from media_pipeline.ops.errors import FFmpegError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.probe import MediaInfo
from media_pipeline.ops.render import build_thumbnail_args

logger = logging.getLogger(__name__)


def delete_file(field) -> int:
    if field and field.name:
        field.delete(save=False)
        return 1
    return 0


@contextlib.contextmanager
def local_path(name: str):
    """A local path of a stored file: in place on a filesystem storage, else a temporary copy."""
    in_place = storage.in_place_path(name)
    if in_place is not None:
        yield in_place
        return
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        yield storage.copy_to_local(name, Path(tmp) / f"file{PurePosixPath(name).suffix}")


# --- source videos ------------------------------------------------------------------------------
def source_video_create(*, owner, upload, info: MediaInfo, name: str | None = None) -> SourceVideo:
    """Store a validated upload (`info` is its probe) with a thumbnail from its middle."""
    default_name = PurePosixPath(upload.name or "").name or "video"
    video = SourceVideo(
        owner=owner,
        name=(name or "").strip()[:255] or default_name[:255],
        size=upload.size,
        duration=info.duration,
        width=info.width,
        height=info.height,
        fps=info.fps,
        media_info=info.as_dict(),
    )
    video.file.save(upload.name or "video.mp4", upload, save=False)
    try:
        _attach_thumbnail(video)
        video.save()
    except BaseException:
        delete_file(video.thumbnail)
        delete_file(video.file)
        raise
    return video


def _attach_thumbnail(video: SourceVideo) -> None:
    """A JPEG from the middle; a video ffmpeg cannot decode a frame of simply has none."""
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        out = Path(tmp) / "thumbnail.jpg"
        with local_path(video.file.name) as path:
            args = build_thumbnail_args(str(path), str(out), at=(video.duration or 0) / 2)
            try:
                run_ffmpeg(args, timeout=60)
            except FFmpegError as exc:
                logger.warning("no thumbnail for source video %s: %s", video.file.name, exc)
                return
        with out.open("rb") as fh:
            video.thumbnail.save("thumbnail.jpg", File(fh), save=False)


def source_video_rename(*, video: SourceVideo, name: str) -> SourceVideo:
    video.name = name.strip()[:255]
    video.save(update_fields=["name"])
    return video


def source_video_delete(*, video: SourceVideo) -> dict:
    """Delete the video, its thumbnail, its segments and their extracted files."""
    segments = list(video.segments.all())
    files = sum(delete_file(s.extracted_file) for s in segments)
    files += delete_file(video.thumbnail) + delete_file(video.file)
    video.delete()  # the segments go with it (CASCADE)
    return {"deleted": True, "files_deleted": files, "segments_deleted": len(segments)}
