"""Shared set-up of the media benchmarks: Django with a temporary data dir (never the dev data),
as every benchmark does (bench/_common.py)."""

from bench._common import setup_django

__all__ = ["setup_django"]
