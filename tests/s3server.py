"""An S3-compatible server for the tests: moto's server (`moto_server`, the dev dependency
`moto[server]` from PyPI) in its own process on 127.0.0.1, at a port it picks itself.

Two users:
- `EF_TEST_STORAGE=s3 uv run pytest ...` runs tests on S3: editfactory/settings_test calls
  `s3_environment()` before the settings load, which starts one server for the run and puts
  EF_STORAGE=s3 and its endpoint, bucket and keys in the environment, so the workers and
  servers a test starts use the same bucket.
- The S3 test modules (tests/storage/) use the `s3` fixture (tests/storage/conftest.py): a
  fresh bucket per test on the run's server, and the settings pointed at it.
"""

import atexit
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import stop_process

HOST = "127.0.0.1"  # never another address
KEYS = {"EF_S3_ACCESS_KEY_ID": "testing", "EF_S3_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"
RUN_BUCKET = "ef-test"
_READY = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")


class MotoServer:
    """`moto_server -H 127.0.0.1 -p 0` with its log in a file (a pipe nobody reads would fill
    with its request log and stall it)."""

    def __init__(self, log_dir: Path):
        self.log = Path(log_dir) / f"moto-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log_fh = self.log.open("wb")
        moto = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(moto), "-H", HOST, "-p", "0"],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.endpoint = f"http://{HOST}:{self._wait_for_port()}"

    def _wait_for_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _READY.search(self.log.read_bytes())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not start: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        stop_process(self.process)
        self._log_fh.close()


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEYS["EF_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["EF_S3_SECRET_ACCESS_KEY"],
    )


def bucket_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The environment of a process that stores media in `bucket` at `endpoint`."""
    return {
        "EF_STORAGE": "s3",
        "EF_S3_ENDPOINT_URL": endpoint,
        "EF_S3_BUCKET": bucket,
        "EF_S3_REGION": REGION,
        **KEYS,
    }


def s3_environment(log_dir) -> None:
    """For EF_TEST_STORAGE=s3: one server and bucket for the whole run, in the environment.
    Processes started by the run inherit it (and start no server of their own)."""
    if os.environ.get("EF_S3_ENDPOINT_URL"):
        return
    server = MotoServer(Path(log_dir))
    atexit.register(server.stop)
    s3_client(server.endpoint).create_bucket(Bucket=RUN_BUCKET)
    os.environ.update(bucket_env(server.endpoint, RUN_BUCKET))
