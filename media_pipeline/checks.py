"""Django system checks (`manage.py check`, and every command that runs the checks, `up` among
them): is there an ffmpeg the renders can use, and which candidate was turned down?"""

from django.core import checks

from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import MIN_RELEASE, choose_ffmpeg


def ffmpeg_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """An Error when no usable ffmpeg exists (EF_FFMPEG is never replaced silently, so a failing
    one is an error even though the bundled ffmpeg would work); an Info when the ffmpeg on PATH
    was turned down for the bundled one: the product works, but not with the ffmpeg installed."""
    try:
        choice = choose_ffmpeg()
    except FFmpegUnavailable as exc:
        return [
            checks.Error(
                str(exc),
                hint=f"Point EF_FFMPEG at an ffmpeg >= {MIN_RELEASE} with libx264 and libass, or "
                "unset it to use the system's (when it passes) or the bundled one. "
                "`manage.py ffmpeg_check` shows every candidate.",
                id="media_pipeline.E001",
            )
        ]
    return [
        checks.Info(
            f"the {source} ffmpeg is not used: {info.describe()}",
            hint=f"Using the {choice.source} ffmpeg {choice.info.version} instead.",
            id="media_pipeline.I001",
        )
        for source, info in choice.refused
    ]
