"""No file is read whole into memory on S3: a 64 MiB object downloaded through the product's
download path (whole and by Range), copied into a job's temp dir and stored from a local file,
with the Python heap's peak (tracemalloc, every thread) held far below the file's size and the
answer's chunks bounded."""

import tracemalloc

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from core import storage
from jobs import services as job_services
from jobs.models import JobFile

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024
SIZE = 64 * MiB


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:
        for i in range(SIZE // MiB):
            fh.write(bytes([i % 256]) * MiB)
    return path


def _peak(work) -> tuple[int, object]:
    """(peak bytes the Python heap grew by while `work` ran, its result)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = work()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


@pytest.fixture
def stored_big(s3, user, big_file):
    job = job_services.job_create(job_type="noop", owner=user)
    peak, jf = _peak(
        lambda: job_services.job_file_store(
            job_id=job.id, local_path=big_file, role=JobFile.Role.OUTPUT, label="big"
        )
    )
    # Uploaded in parts of 8 MiB, at most 4 at once (core.objectstore.TRANSFER).
    assert peak < 40 * MiB, f"storing took {peak / MiB:.1f} MiB of heap"
    assert s3.client.head_object(Bucket=s3.name, Key=jf.name)["ContentLength"] == SIZE
    return job, jf


def _stream(response) -> tuple[int, int]:
    """(bytes, largest chunk) of a streamed answer, keeping no chunk."""
    total = largest = 0
    for chunk in response.streaming_content:
        total += len(chunk)
        largest = max(largest, len(chunk))
    return total, largest


def test_a_download_streams_in_chunks_whole_and_by_range(stored_big, api):
    job, jf = stored_big
    url = api.get(f"/api/v1/jobs/{job.id}").json()["files"][0]["download_url"]
    client = Client()
    peak, (total, largest) = _peak(lambda: _stream(client.get(url)))
    assert total == SIZE and largest <= 256 * 1024
    assert peak < 4 * MiB, f"a 64 MiB download took {peak / MiB:.1f} MiB of heap"

    ranged = client.get(url, HTTP_RANGE=f"bytes={10 * MiB}-{40 * MiB - 1}")
    assert ranged.status_code == 206
    peak, (total, largest) = _peak(lambda: _stream(ranged))
    assert total == 30 * MiB and peak < 4 * MiB


def test_reading_and_copying_an_object_never_holds_it_whole(stored_big, tmp_path):
    _job, jf = stored_big
    peak, copy = _peak(lambda: storage.copy_to_local(jf.name, tmp_path / "copy.bin"))
    assert copy.stat().st_size == SIZE
    assert peak < 40 * MiB, f"copying took {peak / MiB:.1f} MiB of heap"

    def read_through():
        seen = 0
        with default_storage.open(jf.name, "rb") as fh:
            while chunk := fh.read(MiB):
                seen += len(chunk)
        return seen

    peak, seen = _peak(read_through)
    assert seen == SIZE and peak < 8 * MiB, f"reading took {peak / MiB:.1f} MiB of heap"
