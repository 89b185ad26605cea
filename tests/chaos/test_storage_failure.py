"""Chaos: the media storage fills up, or turns read-only, while a render stores its output.

A real tmpfs is mounted over the job's output folder in media storage (a tiny one: "full"; a
read-only one: "not writable"), so the input is stored normally and the failure happens when
the finished render is written. The job must fail with a readable reason, the worker must live
on and complete the next job, and nothing half-written may stay registered or stored.
"""

import contextlib
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files import File

from jobs import services
from jobs.models import Job, JobFile
from jobs.status import TERMINAL, JobStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

THUMBNAIL_STAGE = 96  # render_clip's percent once the render is done and outputs are stored


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str):
    """A tmpfs at `path` for the block (`options`: mount -o). Skips where mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except FileNotFoundError:
        pytest.skip("no mount command here: cannot simulate a full or read-only storage")
    if mount.returncode != 0:
        pytest.skip(
            "mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN): "
            f"{mount.stderr.strip()}"
        )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=10).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def _render_job(user, source: Path) -> Job:
    with source.open("rb") as fh:
        return services.job_create(
            job_type="render_clip",
            params={"preset": "square"},
            owner=user,
            inputs={"source": File(fh, name="source.mp4")},
        )


def _wait_terminal(job: Job) -> Job:
    wait_for(
        lambda: Job.objects.filter(id=job.id, status__in=TERMINAL).exists(),
        timeout=45,
        message=f"job {job.id} to end",
    )
    return Job.objects.get(id=job.id)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("mount_options", "expected_error"),
    [
        # The render (about 500 kB) cannot fit; the input was stored before, elsewhere.
        ("size=64k", "output storage is full (No space left on device) while storing 'video'"),
        ("ro,size=64k", "output storage is not writable (Read-only file system) while storing 'video'"),
    ],
    ids=["full", "read-only"],
)  # fmt: skip
def test_storage_refusing_the_output_fails_the_job_clearly_and_the_worker_goes_on(
    worker_process, user, media, mount_options, expected_error
):
    source = media.video(seconds=2, size="160x120", fps=10)
    job = _render_job(user, source)  # its input goes to the normal storage
    output_dir = Path(settings.MEDIA_ROOT) / "jobs" / str(job.id) / "output"
    with mounted_tmpfs(output_dir, mount_options):
        worker = worker_process()
        job = _wait_terminal(job)
        assert job.status == JobStatus.FAILED, (job.status, job.error)
        assert job.error == expected_error
        assert job.attempts == 1, "a refused write fails at once: retrying would redo the render"
        assert job.progress >= THUMBNAIL_STAGE, "the failure happened while storing the output"
        assert not JobFile.objects.filter(job=job).exclude(role__in=JobFile.INPUT_ROLES).exists()
        assert not list(output_dir.iterdir()), "a partial output stayed in storage"
        assert not list((settings.JOB_TEMP_DIR / "jobs").glob(f"{job.id}-*"))

        # Same worker process, next job (its own output folder is writable): it completes.
        assert worker.process.poll() is None, "the worker died with the storage failure"
        second = _wait_terminal(_render_job(user, source))
        assert second.status == JobStatus.COMPLETED, second.error
        stored = JobFile.objects.filter(job=second, role=JobFile.Role.OUTPUT)
        assert sorted(stored.values_list("label", flat=True)) == ["thumbnail", "video"]
        assert worker.process.poll() is None
    assert "terminated unexpectedly" not in worker.output()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "folder", "mount_options", "problem"),
    [
        ("/videos/process", "jobs", "size=8k", "input storage is full (No space left on device)"),
        ("/videos/process", "jobs", "ro,size=8k", "input storage is not writable (Read-only file system)"),
        ("/source-videos", "library", "size=8k", "media storage is full (No space left on device)"),
    ],
    ids=["job-input-full", "job-input-read-only", "library-full"],
)  # fmt: skip
def test_an_upload_into_a_refusing_storage_is_a_507_and_nothing_stays(
    api, media, endpoint, folder, mount_options, problem
):
    from media_pipeline.library.models import SourceVideo
    from tests.media_pipeline.api_videos.helpers import error, post

    source = media.video(seconds=2, size="160x120", fps=10)  # larger than the 8 kB tmpfs
    storage_dir = Path(settings.MEDIA_ROOT) / folder
    with mounted_tmpfs(storage_dir, mount_options):
        response = post(api, endpoint, files={"file": source})
        assert response.status_code == 507, response.content
        body = error(response)
        assert body["code"] == "storage_unavailable"
        assert body["message"].startswith(problem), body["message"]
        assert body["message"].endswith(". The upload was not stored; try again later.")
        if folder == "jobs":  # the job's own storage helper deletes what it half wrote
            assert not [p for p in storage_dir.rglob("*") if p.is_file()]
    assert Job.objects.count() == 0
    assert JobFile.objects.count() == 0
    assert SourceVideo.objects.count() == 0
