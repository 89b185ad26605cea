"""Operator cleanup of orphan files: stored under the media storage's jobs/ tree, or left in the
temp dir, that no row references any more. (Old jobs: `jobs.services.retention`.)
"""

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

from core import storage
from jobs.models import Job, JobFile
from jobs.status import JobStatus

logger = logging.getLogger(__name__)

JOBS_PREFIX = "jobs"
# Folders of the temp dir made at startup: their entries are cleaned, never the folders.
_TEMP_KEEP = ("jobs", "uploads")


# --- orphan files -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Orphan:
    # "storage" (a name in default_storage), "unfinished" (an object store's upload to that
    # name that was never completed: its parts) or "temp" (a local path)
    where: str
    name: str
    size: int


def referenced_storage_names() -> set[str]:
    """Every storage name a row points at: job files and every FileField of every installed
    model (the library's clips, exports... which adopt job outputs)."""
    names = set(JobFile.objects.values_list("name", flat=True))
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                values = model._base_manager.exclude(**{field.name: ""}).values_list(field.name)
                names.update(name for (name,) in values if name)
    return names


def orphans_find(*, older_than_hours: float, now=None) -> list[Orphan]:
    cutoff = (now or timezone.now()) - timedelta(hours=older_than_hours)
    return [*_storage_orphans(cutoff), *_temp_orphans(cutoff)]


def _storage_orphans(cutoff: datetime):
    """Files under jobs/ that no row names, written before the cutoff (an object store lists
    them with their times in one pass: core.storage.stored_files)."""
    referenced = referenced_storage_names()
    for stored in storage.stored_files(JOBS_PREFIX):
        if stored.name not in referenced and stored.modified < cutoff:
            yield Orphan("storage", stored.name, stored.size)
    for name in storage.unfinished_uploads(JOBS_PREFIX, started_before=cutoff):
        yield Orphan("unfinished", name, 0)


def _temp_orphans(cutoff: datetime):
    """Whole entries of the temp dir (the children of its jobs/ and uploads/ folders) untouched
    since the cutoff; a per-job entry of a processing job is kept whatever its age."""
    root = Path(settings.JOB_TEMP_DIR)
    if not root.is_dir():
        return
    stamp = cutoff.timestamp()
    processing = _processing_job_ids()
    for top in root.iterdir():
        units = top.iterdir() if top.name in _TEMP_KEEP and top.is_dir() else [top]
        for entry in units:
            job_id = _job_id_of(entry.name) if top.name == "jobs" else None
            try:
                if job_id in processing or _newest_mtime(entry) >= stamp:
                    continue
                yield Orphan("temp", str(entry), _size(entry))
            except FileNotFoundError:
                continue  # removed meanwhile (its job ended)


def _processing_job_ids() -> set[uuid.UUID]:
    return set(Job.objects.filter(status=JobStatus.PROCESSING).values_list("id", flat=True))


def _job_id_of(name: str) -> uuid.UUID | None:
    """Per-job temp entries are named "<job id>-<attempt>" (or "<job id>.<something>")."""
    try:
        return uuid.UUID(name[:36])
    except ValueError:
        return None


def _files_under(path: Path):
    if path.is_symlink() or path.is_file():
        yield path
    elif path.is_dir():
        for parent, _dirs, files in os.walk(path):
            for name in files:
                yield Path(parent) / name


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for file in _files_under(path):
        newest = max(newest, file.lstat().st_mtime)
    return newest


def _size(path: Path) -> int:
    return sum(file.lstat().st_size for file in _files_under(path))


def orphans_delete(orphans: list[Orphan], *, on_file=lambda: None) -> dict[str, int]:
    counts = {"files": 0, "bytes": 0}
    for orphan in orphans:
        if orphan.where == "unfinished":
            storage.end_uploads(orphan.name)
        elif orphan.where == "storage":
            default_storage.delete(orphan.name)
        else:
            _remove_local(Path(orphan.name))
        counts["files"] += 1
        counts["bytes"] += orphan.size
        on_file()
    return counts


def _remove_local(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
