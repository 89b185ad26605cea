"""`manage.py ffmpeg_check`: every ffmpeg candidate, what it lacks, and the one in use."""

import shutil

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from media_pipeline.ops import ffmpeg_bin
from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import FFmpegSource

SOURCES = {source.name.lower(): source for source in FFmpegSource}


class Command(BaseCommand):
    help = (
        "Check the ffmpeg candidates (EF_FFMPEG, ffmpeg on PATH, the bundled imageio-ffmpeg) "
        "against what the product uses (version, encoders, filters incl. libass, muxers) and "
        "say which one is used. Exits with an error when none is usable, or when --expect "
        "names another source than the one in use."
    )
    # It reports what the ffmpeg system check would refuse to start with.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect",
            choices=sorted(SOURCES),
            help="fail unless the ffmpeg in use comes from here (CI: the system's passes)",
        )

    def handle(self, *args, expect, **options):
        required = "; ".join(
            f"{kind} {', '.join(sorted(names))}" for kind, names in ffmpeg_bin.REQUIRED.items()
        )
        self.stdout.write(f"Required: ffmpeg >= {ffmpeg_bin.MIN_RELEASE}; {required}\n")
        candidates = {
            FFmpegSource.CONFIGURED: settings.FFMPEG_BINARY or None,
            FFmpegSource.SYSTEM: shutil.which("ffmpeg"),
            FFmpegSource.BUNDLED: ffmpeg_bin.bundled_path(),
        }
        for source, path in candidates.items():
            if not path:
                self.stdout.write(f"{source}: none")
                continue
            info = ffmpeg_bin.inspect_ffmpeg(path)
            verdict = "passes" if info.usable else "REFUSED"
            self.stdout.write(f"{source}: {path}\n  {info.describe()}: {verdict}")
        try:
            choice = ffmpeg_bin.choose_ffmpeg()
        except FFmpegUnavailable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"\nIn use: ffmpeg {choice.info.version}, {choice.source}, at {choice.path} "
                f"({choice.reason})."
            )
        )
        if expect and choice.source is not SOURCES[expect]:
            raise CommandError(
                f"expected the {SOURCES[expect]} ffmpeg, but {choice.source} is used"
            )
