"""Cleanup against a bucket: the orphan sweep lists and dates objects the S3 way (one listing,
no folders), ends unfinished uploads, and keeps what rows name; the rescue of a job whose worker
host died (a real worker process SIGKILLed in the middle of a multipart upload) deletes what
that attempt stored, registered or not, inside or outside the job's folder, and the next
attempt completes with exactly one copy of each output."""

import os
import threading
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs import cleanup
from jobs import services as job_services
from jobs.models import Job, JobFile, StoringFile
from jobs.status import JobStatus
from tests.conftest import run_burst_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024


def test_the_orphan_sweep_works_on_a_bucket(s3, user, tmp_path):
    job = job_services.job_create(job_type="noop", owner=user)
    kept = tmp_path / "kept.txt"
    kept.write_text("a registered output")
    registered = job_services.job_file_store(
        job_id=job.id, local_path=kept, role=JobFile.Role.OUTPUT, label="kept"
    ).name
    s3.put(f"jobs/{uuid.uuid4()}/output/lost.mp4", b"x" * 1234)
    s3.put(f"jobs/{job.id}/temp/deep/left.bin", b"y" * 10)
    s3.put("library/clip/not-in-the-jobs-tree.mp4", b"z")
    s3.client.create_multipart_upload(Bucket=s3.name, Key=f"jobs/{job.id}/output/cut.mp4")

    # All of it is younger than an hour. (moto dates every unfinished upload in 2010: those
    # are filtered by the same cutoff, but cannot be seen young here.)
    young = cleanup.orphans_find(older_than_hours=1)
    assert [o for o in young if o.where == "storage"] == []
    later = timezone.now() + timedelta(hours=2)
    found = cleanup.orphans_find(older_than_hours=1, now=later)
    storage_found = {(o.where, o.name, o.size) for o in found if o.where != "temp"}
    assert storage_found == {
        ("storage", next(k for k in s3.keys() if k.endswith("lost.mp4")), 1234),
        ("storage", f"jobs/{job.id}/temp/deep/left.bin", 10),
        ("unfinished", f"jobs/{job.id}/output/cut.mp4", 0),
    }
    cleanup.orphans_delete([o for o in found if o.where != "temp"])
    assert s3.keys() == sorted([registered, "library/clip/not-in-the-jobs-tree.mp4"])
    assert s3.unfinished() == []


def test_discarding_an_attempts_outputs_reaches_outside_the_jobs_folder(s3, user, tmp_path):
    job = job_services.job_create(job_type="noop", owner=user)
    out = tmp_path / "out.txt"
    out.write_text("an output another row would adopt")
    name = job_services.job_file_store(
        job_id=job.id, local_path=out, role=JobFile.Role.OUTPUT, label="o", name="library/x/o.txt"
    ).name
    # A write that began and was never registered (its host died), outside the job's folder.
    StoringFile.objects.create(job=job, name="library/x/cut.mp4")
    default_storage.save("library/x/cut.mp4", ContentFile(b"half"))
    s3.client.create_multipart_upload(Bucket=s3.name, Key="library/x/cut.mp4")
    assert name == "library/x/o.txt" and len(s3.keys()) == 2

    assert job_services.job_discard_outputs(job_id=job.id) == 2
    assert s3.keys() == [] and s3.unfinished() == [] and StoringFile.objects.count() == 0


class _PipeWriter:
    """Feeds a named pipe from a thread: `first` bytes at once, then holds it open (the reader
    blocks in the middle of its upload) until `finish` writes the rest and closes it."""

    def __init__(self, path, first: int):
        self.path, self.first = path, first
        self._finish = threading.Event()
        self._rest = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            with open(self.path, "wb") as fh:  # blocks until the work horse opens it
                fh.write(b"a" * self.first)
                fh.flush()
                self._finish.wait(120)
                fh.write(self._rest)
        except BrokenPipeError:
            pass  # the reader was killed: the point of the test

    def finish(self, rest: bytes = b""):
        self._rest = rest
        self._finish.set()
        self.thread.join(30)


def test_rescue_after_a_dead_host_deletes_what_its_attempt_stored(
    s3, user, tmp_path, worker_process
):
    fifo = tmp_path / "stream.fifo"
    os.mkfifo(fifo)
    names = {"first_name": "library/test/first.txt", "stream_name": "library/test/stream.bin"}
    job = job_services.job_create(
        job_type="test_store_stream", owner=user, params={**names, "fifo": str(fifo)}
    )
    writer = _PipeWriter(fifo, first=9 * MiB)  # past the 8 MiB threshold: a multipart upload
    worker = worker_process()
    wait_for(lambda: s3.unfinished() == ["library/test/stream.bin"], timeout=90,
             message=f"the upload in progress\n{worker.output()}")  # fmt: skip
    assert s3.keys() == ["library/test/first.txt"]  # the first output, registered
    assert list(StoringFile.objects.values_list("name", flat=True)) == ["library/test/stream.bin"]

    worker.kill()  # the host dies: the work horse with it, in the middle of its upload
    writer.finish()
    counts = job_services.jobs_rescue_stale(now=timezone.now() + timedelta(minutes=5))
    assert counts == {"requeued": 1, "failed": 0}
    assert s3.keys() == [] and s3.unfinished() == [] and StoringFile.objects.count() == 0

    # Attempt 2 runs to the end (the pipe is written whole and closed this time).
    writer = _PipeWriter(fifo, first=3 * MiB)
    finisher = threading.Thread(target=writer.finish, args=(b"b" * MiB,))
    finisher.start()
    run_burst_worker()
    finisher.join(30)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.result == {"attempt": 2}, job.error
    assert s3.keys() == ["library/test/first.txt", "library/test/stream.bin"]
    size = s3.client.head_object(Bucket=s3.name, Key="library/test/stream.bin")["ContentLength"]
    assert size == 4 * MiB and s3.unfinished() == []
    assert Job.objects.get(id=job.id).attempts == 2
