"""cleanup_jobs: retention, old jobs by age and status, and orphan files (real storage, real DB)."""

import io
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import Job, JobFile
from jobs.services import jobs_select_old
from jobs.status import JobStatus
from media_pipeline.library.models import SourceVideo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def private_dirs(settings, tmp_path):
    """Each test gets its own media storage and temp dir, so counts are exact."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.JOB_TEMP_DIR = tmp_path / "tmp"
    (settings.JOB_TEMP_DIR / "uploads").mkdir(parents=True)
    (settings.JOB_TEMP_DIR / "jobs").mkdir()
    return tmp_path


def run(*args) -> str:
    out = io.StringIO()
    call_command("cleanup_jobs", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def make_job(status, *, ended_days_ago=None, created_days_ago=0, files=1) -> Job:
    now = timezone.now()
    ended = None if ended_days_ago is None else now - timedelta(days=ended_days_ago)
    job = Job.objects.create(
        job_type="noop",
        status=status,
        created_at=now - timedelta(days=created_days_ago),
        completed_at=ended,
    )
    for n in range(files):
        name = default_storage.save(f"jobs/{job.id}/output/out{n}.txt", ContentFile(b"x" * 10))
        JobFile.objects.create(job=job, name=name, role=JobFile.Role.OUTPUT, size=10)
    return job


def storage_names(job) -> list[str]:
    return list(job.files.values_list("name", flat=True))


def age(path: Path, hours: float) -> None:
    stamp = time.time() - hours * 3600
    os.utime(path, (stamp, stamp))


# --- retention and old jobs ---------------------------------------------------------------------
def test_default_deletes_expired_jobs_only_and_dry_run_lists_them():
    expired = make_job(JobStatus.COMPLETED, ended_days_ago=20)
    fresh = make_job(JobStatus.COMPLETED, ended_days_ago=1)
    names = storage_names(expired)

    out = run("--dry-run")
    assert f"would delete job {expired.id} (noop, completed), 1 file(s)" in out
    assert "would delete 1 expired job(s)" in out and "nothing was deleted" in out
    assert Job.objects.count() == 2 and default_storage.exists(names[0])

    out = run()
    assert "cleanup: 1 expired job(s) and 1 file(s) deleted" in out
    assert list(Job.objects.values_list("id", flat=True)) == [fresh.id]
    assert not default_storage.exists(names[0])
    assert default_storage.exists(storage_names(fresh)[0])


def test_older_than_days_deletes_exactly_the_old_terminal_jobs_and_their_files():
    old_done = make_job(JobStatus.COMPLETED, ended_days_ago=40, files=2)
    old_failed = make_job(JobStatus.FAILED, ended_days_ago=35)
    recent = make_job(JobStatus.COMPLETED, ended_days_ago=5)
    old_queued = make_job(JobStatus.QUEUED, created_days_ago=60)
    old_processing = make_job(JobStatus.PROCESSING, created_days_ago=60)
    gone = storage_names(old_done) + storage_names(old_failed)
    # a shared input (a library file) of an old job is read, never deleted with it
    library = default_storage.save("library/sourcevideo/a.mp4", ContentFile(b"video"))
    JobFile.objects.create(job=old_done, name=library, role=JobFile.Role.SHARED)
    kept = [*storage_names(recent), *storage_names(old_queued), *storage_names(old_processing)]

    out = run("--older-than-days", 30)
    assert "cleanup: 2 job(s) older than 30 day(s)" in out and "3 file(s) deleted" in out
    assert set(Job.objects.values_list("id", flat=True)) == {
        recent.id,
        old_queued.id,
        old_processing.id,
    }
    assert not any(default_storage.exists(name) for name in gone)
    assert all(default_storage.exists(name) for name in [*kept, library])


def test_status_filter_and_dry_run():
    old_done = make_job(JobStatus.COMPLETED, ended_days_ago=40)
    old_cancelled = make_job(JobStatus.CANCELLED, ended_days_ago=40)
    out = run("--older-than-days", 30, "--status", "cancelled", "--dry-run")
    assert f"would delete job {old_cancelled.id}" in out and str(old_done.id) not in out
    assert Job.objects.count() == 2
    run("--older-than-days", 30, "--status", "cancelled")
    assert list(Job.objects.values_list("id", flat=True)) == [old_done.id]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than-days", "1", "--status", "processing"], "refusing to delete processing"),
        (["--older-than-days", "1", "--status", "queued"], "refusing to delete queued"),
        (["--status", "failed"], "--status needs --older-than-days"),
        (["--orphans-hours", "-1"], "--orphans-hours must be >= 0"),
    ],
)
def test_refuses_active_statuses_and_bad_options(args, message):
    job = make_job(JobStatus.PROCESSING, created_days_ago=60)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Job.objects.filter(id=job.id).exists()


# --- orphans ------------------------------------------------------------------------------------
def test_orphans_are_deleted_but_referenced_fresh_and_running_ones_stay(settings, user):
    media = Path(settings.MEDIA_ROOT)
    temp = settings.JOB_TEMP_DIR
    job = make_job(JobStatus.COMPLETED, ended_days_ago=1)
    referenced = media / storage_names(job)[0]
    orphan = media / "jobs" / str(uuid.uuid4()) / "output" / "lost.mp4"
    fresh_orphan = media / "jobs" / str(uuid.uuid4()) / "output" / "new.mp4"
    library_ref = media / "jobs" / "legacy" / "source.mp4"  # a library row points here
    library_own = media / "library" / "clip" / "x.mp4"  # outside jobs/: never scanned
    for path in (orphan, fresh_orphan, library_ref, library_own):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"data")
    SourceVideo.objects.create(owner=user, name="v", file="jobs/legacy/source.mp4")

    running = make_job(JobStatus.PROCESSING)
    running_dir = temp / "jobs" / f"{running.id}-1"
    finished_dir = temp / "jobs" / f"{job.id}-1"
    unknown_dir = temp / "jobs" / f"{uuid.uuid4()}-2"
    stale_upload = temp / "uploads" / "tmpabc.upload.mp4"
    fresh_upload = temp / "uploads" / "tmpdef.upload.mp4"
    for directory in (running_dir, finished_dir, unknown_dir):
        directory.mkdir()
        (directory / "work.mp4").write_bytes(b"12345")
    stale_upload.write_bytes(b"123")
    fresh_upload.write_bytes(b"123")
    for path in [referenced, orphan, library_ref, library_own, stale_upload]:
        age(path, 5)
    for directory in (running_dir, finished_dir, unknown_dir):
        age(directory / "work.mp4", 5)
        age(directory, 5)

    out = run("--orphans-hours", 2, "--dry-run")
    assert "would delete storage jobs/" in out and "lost.mp4 (4 bytes)" in out
    assert "would delete 4 orphan(s), 17 bytes" in out
    assert orphan.exists() and finished_dir.exists()

    out = run("--orphans-hours", 2)
    assert "cleanup: 4 orphan(s) deleted, 17 bytes freed" in out
    assert not orphan.exists() and not finished_dir.exists() and not unknown_dir.exists()
    assert not stale_upload.exists()
    for path in (referenced, fresh_orphan, library_ref, library_own, fresh_upload, running_dir):
        assert path.exists(), path
    assert (temp / "uploads").is_dir() and (temp / "jobs").is_dir()
    assert Job.objects.filter(id=job.id).exists()  # orphan cleanup deletes no job


def test_orphans_alone_does_not_run_the_retention_cleanup():
    expired = make_job(JobStatus.COMPLETED, ended_days_ago=20)
    out = run("--orphans-hours", 1)
    assert "expired" not in out and Job.objects.filter(id=expired.id).exists()
    out = run("--orphans-hours", 1, "--expired")
    assert "1 expired job(s)" in out and not Job.objects.filter(id=expired.id).exists()


def test_old_job_selection_refuses_active_statuses():
    job = make_job(JobStatus.QUEUED, created_days_ago=90)
    with pytest.raises(ValueError, match="refusing active"):
        jobs_select_old(older_than_days=1, statuses=[JobStatus.QUEUED])
    assert not jobs_select_old(older_than_days=1).filter(id=job.id).exists()
