"""A test run leaves nothing behind in the system temp dir (data dirs, pytest's temp dirs), run
serially or in parallel (pytest-xdist: each worker's data dir, Redis and S3 server of its own)."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.xdist_worker import XDIST_VARIABLES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("parallel", ["-p no:xdist", "-n 2"], ids=["serial", "xdist"])
def test_a_test_run_leaves_the_temp_dir_as_it_found_it(parallel):
    # Short: the embedded Redis socket of the inner run lives below it (unix socket paths are
    # limited to ~107 bytes).
    temp = Path(tempfile.mkdtemp(prefix="ef-lt-", dir="/tmp"))
    try:
        _run_and_check(temp, parallel.split())
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _run_and_check(temp: Path, parallel: list[str]) -> None:
    # The inner run uses SQLite and an embedded Redis whatever the outer run uses: on the
    # PostgreSQL leg both runs would otherwise fight over the same test database. Nor is it a
    # part of the outer run's xdist worker (whose variables this process has).
    skip = {"EF_DATA_DIR", "EF_USE_TEST_DB", "DATABASE_URL", "REDIS_URL", *XDIST_VARIABLES}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(TMPDIR=str(temp), PYTHONDONTWRITEBYTECODE="1")
    # A small run that starts workers, stores media and uses tmp_path (the engine tests do).
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *parallel,
         "tests/jobs/test_engine.py::test_create_enqueues_after_commit_and_a_worker_completes_it",
         "tests/core/test_media_urls.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert sorted(p.name for p in temp.iterdir()) == []
