"""Checking uploaded media before any job is created: size cap and content sniffing by probing
(the extension and the client's content type are never trusted)."""

import tempfile
from pathlib import Path

from django.conf import settings

from core.errors import InvalidMedia, PayloadTooLarge, UnsupportedMedia
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.probe import MediaInfo, probe_media


def _local_copy(upload) -> tuple[Path, bool]:
    """A path to the upload's bytes; True when we made a temporary copy to remove."""
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path()), False
    with tempfile.NamedTemporaryFile(delete=False, suffix=".upload") as tmp:
        for chunk in upload.chunks():
            tmp.write(chunk)
    upload.seek(0)
    return Path(tmp.name), True


def validate_media_upload(upload, *, field: str = "file", need_video: bool = False) -> MediaInfo:
    """Reject an empty, oversized or non-media upload with a clear 4xx; returns its probe."""
    if upload.size == 0:
        raise InvalidMedia(f"'{field}' is empty (0 bytes)", [{"field": field}])
    if upload.size > settings.UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(
            f"'{field}' is {upload.size} bytes; the limit is {settings.UPLOAD_MAX_BYTES} bytes",
            [{"field": field}],
        )
    path, temporary = _local_copy(upload)
    try:
        info = probe_media(path)
    except InvalidMediaError as exc:
        raise UnsupportedMedia(f"'{field}': {exc}", [{"field": field}]) from None
    finally:
        if temporary:
            path.unlink(missing_ok=True)
    if need_video and not info.has_video:
        raise InvalidMedia(f"'{field}' has no video stream", [{"field": field}])
    return info
