"""A job's files: inputs stored at creation, outputs registered by its handler, and deleting
exactly those. Every stored file is a `JobFile` row, so cleanup never guesses."""

import contextlib
import logging
import mimetypes
from pathlib import Path, PurePosixPath

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction

from core import storage
from core.errors import storage_error
from core.files import safe_suffix
from jobs.errors import PermanentJobError
from jobs.models import Job, JobFile, StoringFile
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
    in_place = storage.in_place_path(jf.name)
    if in_place is not None:
        return in_place
    # An object store: copied once per attempt into its temp dir, named by the label (two
    # inputs may share a file name); the temp dir goes with the attempt.
    target = temp_dir / f"input-{label}{PurePosixPath(jf.name).suffix}"
    if not target.exists():
        partial = target.with_name(target.name + ".part")
        storage.copy_to_local(jf.name, partial).rename(target)
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
    once the job completes (see `job_files_adopt`). The name is noted (`StoringFile`) before
    the write, so a write cut short by a lost host is found and deleted with its attempt."""
    filename = filename or local_path.name
    target = default_storage.get_available_name(name or storage_name_for(job_id, role, filename))
    storing = StoringFile.objects.create(job_id=job_id, name=target)
    try:
        with local_path.open("rb") as fh:
            stored = storage_save(target, File(fh), role=role, label=label or filename)
        with transaction.atomic():
            jf = _register(job_id, stored, role, label, size=local_path.stat().st_size)
            storing.delete()
    except BaseException:
        _delete_partial_file(target)  # no row will name it
        with contextlib.suppress(DatabaseError):  # else the rescue or the discard deletes it
            StoringFile.objects.filter(pk=storing.pk).delete()
        raise
    return jf


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
        storage.discard(name)
    except OSError as exc:  # a read-only storage cannot have received any of it anyway
        logger.warning("could not delete the partial file %s: %s", name, exc)


# --- deleting -----------------------------------------------------------------------------------
def delete_job_files(files) -> int:
    """Delete the rows and the stored files, except shared inputs (their owner deletes those)."""
    count = 0
    for jf in files.exclude(role=JobFile.Role.SHARED):
        count += storage.discard(jf.name)
    files.delete()
    return count


def job_discard_outputs(*, job_id) -> int:
    """Remove the outputs of an unsuccessful attempt: a job's outputs exist only when it completed."""
    outputs = JobFile.objects.filter(job_id=job_id).exclude(role__in=JobFile.INPUT_ROLES)
    return (
        delete_job_files(outputs)
        + _delete_unfinished_writes(job_id)
        + _delete_unregistered_outputs(job_id)
    )


def _delete_unfinished_writes(job_id) -> int:
    """What an attempt began writing and never registered (its `StoringFile` rows), wherever
    the name is: the host died in the middle of the write, or between it and the row."""
    count = 0
    for storing in StoringFile.objects.filter(job_id=job_id):
        count += storage.discard(storing.name)
        storing.delete()
    return count


def _delete_unregistered_outputs(job_id) -> int:
    """Files in the job's own output folders that no row names (a save cut short by a killed
    work horse), and an object store's unfinished uploads there."""
    registered = set(JobFile.objects.filter(job_id=job_id).values_list("name", flat=True))
    count = 0
    for role in (JobFile.Role.OUTPUT, JobFile.Role.TEMP):
        folder = storage_name_for(job_id, role, "").rstrip("/")
        try:
            stored = [f.name for f in storage.stored_files(folder)]
            storage.discard_unfinished(folder)
        except (OSError, NotImplementedError):  # a storage without listing
            continue
        for name in stored:
            if name not in registered:
                _delete_partial_file(name)
                count += 1
    return count


def job_discard_cancelled_outputs(*, job_id) -> int:
    """After a cancelled run stops: drop what it registered. (A rescued job may already be
    running elsewhere; its files are not ours to delete.)"""
    files = JobFile.objects.filter(job_id=job_id, job__status=JobStatus.CANCELLED)
    return delete_job_files(files.exclude(role__in=JobFile.INPUT_ROLES))
