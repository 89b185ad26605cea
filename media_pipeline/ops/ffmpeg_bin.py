"""Which ffmpeg to run: the configured one, the system's, or the one shipped by imageio-ffmpeg."""

import functools
import shutil

from django.conf import settings


@functools.cache
def ffmpeg_path() -> str:
    if settings.FFMPEG_BINARY:
        return settings.FFMPEG_BINARY
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
