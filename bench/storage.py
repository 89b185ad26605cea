"""Upload and download throughput of media storage: an S3-compatible object store (moto's server
on 127.0.0.1, the one the tests use) against the local disk, in one run, through the product's
paths.

    uv run python bench/storage.py [--mb 128] [--rounds 3]

- upload: a file of --mb MiB stored the way an upload or a job's output is
  (`jobs.services.files.storage_save` of a file on disk: Django's temporary upload file, a
  render's output);
- download: the answer of a download route streamed to its end, chunk by chunk
  (`core.downloads.stream_stored_file`, what every download and media link returns; a
  RequestFactory request, so no socket: the storage's share of the time);
- ranged download: the same for a Range of a quarter of the file from its middle.

Each is measured --rounds times per storage, the storages alternating, and the medians are
printed in MB/s with the ratio object store / local disk, and the load average. The local disk
reads back from the page cache; moto keeps objects in its own Python process (one core), so the
object store's figures are moto's, not those of a production store (MinIO, Ceph, S3).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import setup_django  # noqa: E402

MiB = 1024 * 1024


def _make_file(directory: Path, mb: int) -> Path:
    path = directory / f"payload-{mb}.bin"
    block = os.urandom(MiB)  # incompressible, like video
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block)
    return path


def _storages(moto_endpoint: str, bucket: str, media_dir: Path) -> dict[str, dict]:
    import environ

    from editfactory.storage_settings import default_storage_from_env
    from tests.s3server import bucket_env

    os.environ.update(bucket_env(moto_endpoint, bucket))
    return {
        "local": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media_dir)},
        },
        "s3": default_storage_from_env(environ.Env()),
    }


def _upload(payload: Path) -> tuple[float, str]:
    from django.core.files import File

    from jobs.services.files import storage_save

    started = time.perf_counter()
    with payload.open("rb") as fh:
        name = storage_save(f"bench/{uuid.uuid4().hex}.bin", File(fh), role="bench", label="b")
    return time.perf_counter() - started, name


def _download(name: str, range_header: str | None = None) -> tuple[float, int]:
    from django.test import RequestFactory

    from core.downloads import stream_stored_file

    headers = {"Range": range_header} if range_header else {}
    request = RequestFactory().get("/download", headers=headers)
    started = time.perf_counter()
    response = stream_stored_file(request, name=name)
    received = sum(len(chunk) for chunk in response.streaming_content)
    return time.perf_counter() - started, received


def _round(kind: str, storages: dict, payload: Path, mb: int) -> dict[str, float]:
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.test.utils import override_settings

    with override_settings(STORAGES={**settings.STORAGES, "default": storages[kind]}):
        up_seconds, name = _upload(payload)
        down_seconds, received = _download(name)
        assert received == mb * MiB, (kind, received)
        quarter = mb * MiB // 4
        start = mb * MiB // 2 - quarter // 2
        range_seconds, got = _download(name, f"bytes={start}-{start + quarter - 1}")
        assert got == quarter, (kind, got)
        default_storage.delete(name)
    return {
        "upload": mb / up_seconds,
        "download": mb / down_seconds,
        "ranged download": (mb / 4) / range_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=128, help="file size in MiB")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    setup_django()
    from django.conf import settings

    from tests.s3server import MotoServer, s3_client

    work = Path(tempfile.mkdtemp(prefix="storage-", dir=settings.DATA_DIR))
    server = MotoServer(work)
    try:
        bucket = "bench"
        s3_client(server.endpoint).create_bucket(Bucket=bucket)
        storages = _storages(server.endpoint, bucket, work / "media")
        payload = _make_file(work, args.mb)
        figures: dict[str, dict[str, list[float]]] = {"local": {}, "s3": {}}
        for _ in range(args.rounds):
            for kind in ("local", "s3"):
                for what, rate in _round(kind, storages, payload, args.mb).items():
                    figures[kind].setdefault(what, []).append(rate)
    finally:
        server.stop()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"{args.mb} MiB file, median of {args.rounds} rounds (MB/s = MiB/s)")  # fmt: skip
    print(f"{'path':<18}{'local disk':>12}{'object store':>14}{'ratio s3/local':>16}")
    for what in figures["local"]:
        local = statistics.median(figures["local"][what])
        s3 = statistics.median(figures["s3"][what])
        print(f"{what:<18}{local:>12.1f}{s3:>14.1f}{s3 / local:>16.2f}")


if __name__ == "__main__":
    main()
