"""A job's files: inputs stored at creation, outputs registered by its handler, and deleting
exactly those. Every stored file is a `JobFile` row, so cleanup never guesses."""

import logging
import mimetypes
import shutil
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

from core.errors import storage_error
from core.files import safe_suffix
from jobs.errors import PermanentJobError
from jobs.models import Job, JobFile
from jobs.status import JobStatus

logger = logging.getLogger(__name__)


def storage_name_for(job_id, role: str, filename: str) -> str:
    """Where a job's file lives in media storage. `filename` is never taken from user input."""
    return f"jobs/{job_id}/{role}/{filename}"


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# --- inputs -------------------------------------------------------------------------------------
def job_input_store(job: Job, label: str, upload: File) -> str:
    """Copy an upload into the job's storage (deleted with the job); returns its storage name."""
    filename = f"{label}{safe_suffix(upload.name)}"
    name = storage_save(
        storage_name_for(job.id, "input", filename), upload, role="input", label=label
    )
    _register(job.id, name, JobFile.Role.INPUT, label)
    return name


def job_input_share(job: Job, label: str, name: str) -> None:
    """Register a file owned by someone else (a library source video): read in place, never
    deleted with the job."""
    _register(job.id, name, JobFile.Role.SHARED, label)


def _register(job_id, name: str, role: str, label: str, size: int | None = None) -> JobFile:
    return JobFile.objects.create(
        job_id=job_id,
        name=name,
        role=role,
        label=label,
        size=default_storage.size(name) if size is None else size,
        content_type=_content_type(name),
    )


def job_file_local_path(*, job_id, label: str, temp_dir: Path) -> Path:
    inputs = JobFile.objects.filter(job_id=job_id, role__in=JobFile.INPUT_ROLES, label=label)
    jf = inputs.first()
    if jf is None:
        raise PermanentJobError(f"missing input '{label}'")
    try:
        return Path(default_storage.path(jf.name))
    except NotImplementedError:  # remote storage: copy into the job's temp dir
        target = temp_dir / Path(jf.name).name
        with default_storage.open(jf.name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        return target


# --- outputs ------------------------------------------------------------------------------------
def job_file_store(
    *,
    job_id,
    local_path: Path,
    role: str,
    label: str = "",
    filename: str | None = None,
    name: str | None = None,
) -> JobFile:
    """Copy a local file into media storage and register it on the job. `name` (chosen by the
    server, never by a client) stores it outside the job's folder: a file another row will own
    once the job completes (see `job_files_adopt`)."""
    filename = filename or local_path.name
    with local_path.open("rb") as fh:
        stored = storage_save(
            name or storage_name_for(job_id, role, filename),
            File(fh),
            role=role,
            label=label or filename,
        )
    return _register(job_id, stored, role, label, size=local_path.stat().st_size)


def job_files_adopt(*, job_id, label: str) -> str:
    """Hand the job's output `label` over to another owner (a library row, in the same
    transaction as the job's completion): the file stays, the job no longer lists or deletes
    it. Returns its storage name."""
    jf = JobFile.objects.get(job_id=job_id, role=JobFile.Role.OUTPUT, label=label)
    jf.delete()
    return jf.name


def storage_save(name: str, content: File, *, role: str, label: str) -> str:
    """Save `content` into media storage under `name` (or a free variant of it); returns the name
    used. A storage that refuses the write (full, read-only) raises StorageUnavailable naming
    the file and the storage's role, and what was written of it is deleted: nothing half-stored
    stays behind."""
    name = default_storage.get_available_name(name)
    try:
        return default_storage.save(name, content)
    except OSError as exc:
        _delete_partial_file(name)
        readable = storage_error(exc, storage=f"{role} storage", doing=f"storing '{label}'")
        if readable is None:
            raise
        raise readable from exc


def _delete_partial_file(name: str) -> None:
    try:
        if default_storage.exists(name):
            default_storage.delete(name)
    except OSError as exc:  # a read-only storage cannot have received any of it anyway
        logger.warning("could not delete the partial file %s: %s", name, exc)


# --- deleting -----------------------------------------------------------------------------------
def delete_job_files(files) -> int:
    """Delete the rows and the stored files, except shared inputs (their owner deletes those)."""
    count = 0
    for jf in files.exclude(role=JobFile.Role.SHARED):
        if default_storage.exists(jf.name):
            default_storage.delete(jf.name)
            count += 1
    files.delete()
    return count


def job_discard_outputs(*, job_id) -> int:
    """Remove the outputs of an unsuccessful attempt: a job's outputs exist only when it completed."""
    outputs = JobFile.objects.filter(job_id=job_id).exclude(role__in=JobFile.INPUT_ROLES)
    return delete_job_files(outputs) + _delete_unregistered_outputs(job_id)


def _delete_unregistered_outputs(job_id) -> int:
    """Files in the job's own output folders that no row names: a save cut short (the work
    horse killed in the middle of writing it) leaves one behind, unregistered."""
    registered = set(JobFile.objects.filter(job_id=job_id).values_list("name", flat=True))
    count = 0
    for role in (JobFile.Role.OUTPUT, JobFile.Role.TEMP):
        try:
            _, filenames = default_storage.listdir(storage_name_for(job_id, role, ""))
        except (OSError, NotImplementedError):  # no such folder (nothing stored), or no listing
            continue
        for filename in filenames:
            name = storage_name_for(job_id, role, filename)
            if name not in registered:
                _delete_partial_file(name)
                count += 1
    return count


def job_discard_cancelled_outputs(*, job_id) -> int:
    """After a cancelled run stops: drop what it registered. (A rescued job may already be
    running elsewhere; its files are not ours to delete.)"""
    files = JobFile.objects.filter(job_id=job_id, job__status=JobStatus.CANCELLED)
    return delete_job_files(files.exclude(role__in=JobFile.INPUT_ROLES))
