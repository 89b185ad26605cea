"""`manage.py rqworker ...` with one export preset's x264 speed changed, for `bench/memory.py
--x264-preset` (a full 10-minute 1080x1920 render at `medium` takes long on two cores).

    python -m bench._preset_worker PRESET X264_PRESET rqworker [rqworker args...]

Only this worker process sees the change; the job, its handler and ffmpeg's other options are
the product's own.
"""

import dataclasses
import sys

import django
from django.core.management import execute_from_command_line


def main() -> None:
    preset, x264_preset, *command = sys.argv[1:]
    django.setup()
    from media_pipeline.ops import presets

    presets.PRESETS[preset] = dataclasses.replace(presets.PRESETS[preset], x264_preset=x264_preset)
    execute_from_command_line(["manage.py", *command])


if __name__ == "__main__":
    main()
