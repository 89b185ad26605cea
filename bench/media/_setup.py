"""Shared set-up of the media benchmarks: Django with a temporary data dir (never the dev data)."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("EF_DATA_DIR", tempfile.mkdtemp(prefix="ef-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editfactory.settings_test")
    os.environ.setdefault("EF_LOG_LEVEL", "WARNING")
    import django

    django.setup()
