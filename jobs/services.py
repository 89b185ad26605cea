"""Job services: every status change of a job happens here, as a conditional update.

`filter(id=..., status=<expected>).update(...)` makes each transition atomic: two workers can
never both claim a job, and a cancelled job is never resurrected by a late worker write.
"""

import logging
import mimetypes
import os
import shutil
import socket
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import storage_error
from jobs import queue, webhooks
from jobs.budgets import budget_check
from jobs.errors import (
    IllegalTransition,
    PermanentJobError,
    UnknownJobType,
    is_permanent,
)
from jobs.models import CostEntry, Job, JobFile
from jobs.registry import get_job_type
from jobs.status import ALLOWED_FROM, TERMINAL, JobStatus

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost: no heartbeat for {seconds:.0f} s and no attempts left"


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _expires_at(now):
    return now + timedelta(days=settings.JOB_RETENTION_DAYS)


def _transition(job_id, target: str, **fields) -> bool:
    """Move a job to `target` if its current status allows it; True when the row changed."""
    fields["updated_at"] = timezone.now()
    return bool(
        Job.objects.filter(id=job_id, status__in=ALLOWED_FROM[target]).update(
            status=target, **fields
        )
    )


def storage_name_for(job_id, role: str, filename: str) -> str:
    """Where a job's file lives in media storage. `filename` is never taken from user input."""
    return f"jobs/{job_id}/{role}/{filename}"


# --- creation -----------------------------------------------------------------------------------
def job_create(
    *,
    job_type: str,
    params: dict | None = None,
    owner=None,
    inputs: dict[str, File] | None = None,
    shared_inputs: dict[str, str] | None = None,
    max_attempts: int | None = None,
    priority: int = 0,
    callback_url: str = "",
) -> Job:
    """Validate, insert the row (and its input files) and enqueue after commit.

    `inputs` are uploads copied into the job's storage (deleted with the job); `shared_inputs`
    are storage names owned by someone else (a library source video), read in place and never
    deleted with the job. An unknown type, invalid params, a refused callback URL or a passed
    hard budget (BudgetExceeded) raises before anything is written."""
    jt = get_job_type(job_type)
    parsed = jt.parse_params(params)
    callback_url = webhooks.validate_callback_url(callback_url)
    budget_check(user=owner, estimate=jt.estimated_cost(parsed))
    job = Job(
        job_type=job_type,
        owner=owner,
        params=parsed.model_dump(mode="json"),
        max_attempts=max_attempts or jt.max_attempts,
        priority=priority,
        callback_url=callback_url,
    )
    stored: list[str] = []
    try:
        with transaction.atomic():
            job.save(force_insert=True)
            for label, upload in (inputs or {}).items():
                stored.append(_store_input(job, label, upload))
            for label, name in (shared_inputs or {}).items():
                _register_shared_input(job, label, name)
            transaction.on_commit(
                lambda: queue.enqueue(job.id, timeout=jt.timeout, at_front=priority > 0)
            )
    except Exception:
        for name in stored:
            default_storage.delete(name)
        raise
    return job


def _register_shared_input(job: Job, label: str, name: str) -> None:
    JobFile.objects.create(
        job=job,
        name=name,
        role=JobFile.Role.SHARED,
        label=label,
        size=default_storage.size(name),
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
    )


def _store_input(job: Job, label: str, upload: File) -> str:
    suffix = Path(upload.name or "").suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ".bin"
    name = storage_save(
        storage_name_for(job.id, "input", f"{label}{suffix}"), upload, role="input", label=label
    )
    JobFile.objects.create(
        job=job,
        name=name,
        role=JobFile.Role.INPUT,
        label=label,
        size=default_storage.size(name),
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
    )
    return name


# --- the worker's side --------------------------------------------------------------------------
def job_claim(*, job_id) -> Job | None:
    """queued -> processing for exactly one delivery; None when someone else has it (or it is
    not runnable yet)."""
    now = timezone.now()
    changed = (
        Job.objects.filter(id=job_id, status=JobStatus.QUEUED)
        .exclude(run_after__gt=now)
        .update(
            status=JobStatus.PROCESSING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            worker=_worker_name(),
            stage="starting",
            stage_label="Starting",
            eta_seconds=None,
            updated_at=now,
        )
    )
    return Job.objects.get(id=job_id) if changed else None


def job_set_progress(*, job_id, percent: float, stage: str, label: str, eta_seconds) -> bool:
    now = timezone.now()
    return bool(
        Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, progress__lte=percent).update(
            progress=percent,
            stage=stage[:50],
            stage_label=label[:200],
            eta_seconds=eta_seconds,
            heartbeat_at=now,
            updated_at=now,
        )
    )


def job_heartbeat(*, job_id, attempt: int) -> bool:
    """Refresh the heartbeat; False when the job is no longer ours (cancelled, rescued...)."""
    return bool(
        Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, attempts=attempt).update(
            heartbeat_at=timezone.now()
        )
    )


def job_is_processing(*, job_id, attempt: int) -> bool:
    return Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, attempts=attempt).exists()


def _ended(job_id) -> None:
    """After every terminal transition (and only then): the job's webhook, if it has one."""
    webhooks.webhook_schedule(job_id=job_id)


def job_complete(*, job_id, result: dict | None) -> bool:
    now = timezone.now()
    changed = _transition(
        job_id,
        JobStatus.COMPLETED,
        result=result or {},
        progress=100.0,
        stage="done",
        stage_label="Done",
        eta_seconds=0,
        completed_at=now,
        expires_at=_expires_at(now),
        error="",
        error_detail="",
    )
    if changed:
        _ended(job_id)
    return changed


def retry_delay(attempts: int) -> float:
    """Exponential backoff after the n-th failed attempt: base * 2**(n-1), capped."""
    return min(
        settings.JOB_RETRY_BACKOFF_BASE * 2 ** max(attempts - 1, 0), settings.JOB_RETRY_BACKOFF_MAX
    )


def job_handle_error(*, job_id, exc: BaseException, detail: str = "") -> str:
    """Record a failed attempt: retry later (transient, attempts left) or fail for good.

    Returns the status the job ended in (or its current one when it was no longer ours)."""
    job = Job.objects.get(id=job_id)
    if job.status != JobStatus.PROCESSING:
        return job.status
    message = _error_message(exc)
    job_discard_outputs(job_id=job_id)
    if not is_permanent(exc) and job.attempts < job.max_attempts:
        delay = retry_delay(job.attempts)
        if _transition(
            job_id,
            JobStatus.QUEUED,
            error=message,
            error_detail=detail,
            run_after=timezone.now() + timedelta(seconds=delay),
            stage="retry_wait",
            stage_label=f"Retrying in {delay:.0f} s (attempt {job.attempts} failed)",
            eta_seconds=None,
            worker="",
        ):
            return JobStatus.QUEUED
    _fail(job_id, message, detail, expected=(JobStatus.PROCESSING,))
    return JobStatus.FAILED


def _error_message(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if is_permanent(exc) else f"{exc.__class__.__name__}: {text}"


def _fail(job_id, message: str, detail: str = "", *, expected=(JobStatus.PROCESSING,)) -> bool:
    now = timezone.now()
    fields = dict(
        status=JobStatus.FAILED,
        error=message[:5000],
        error_detail=detail,
        completed_at=now,
        expires_at=_expires_at(now),
        eta_seconds=None,
        updated_at=now,
    )
    changed = bool(Job.objects.filter(id=job_id, status__in=expected).update(**fields))
    if changed:
        _ended(job_id)
    return changed


def job_fail(*, job_id, message: str, detail: str = "") -> bool:
    """Fail a job now (no retry), whatever its attempts."""
    job_discard_outputs(job_id=job_id)
    return _fail(job_id, message, detail, expected=(JobStatus.QUEUED, JobStatus.PROCESSING))


# --- operator and API actions -------------------------------------------------------------------
def job_cancel(*, job: Job) -> Job:
    """Queued or processing -> cancelled. A running worker notices within a poll interval,
    kills its ffmpeg and cleans up. Raises IllegalTransition for terminal jobs."""
    now = timezone.now()
    changed = _transition(
        job.id,
        JobStatus.CANCELLED,
        completed_at=now,
        expires_at=_expires_at(now),
        stage="cancelled",
        stage_label="Cancelled",
        eta_seconds=None,
    )
    job.refresh_from_db()
    if not changed:
        raise IllegalTransition(f"cannot cancel a {job.status} job")
    _ended(job.id)
    return job


def job_retry(*, job: Job) -> Job:
    """Failed or cancelled -> queued, with a fresh set of attempts (attempts reset to 0)."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise IllegalTransition(f"cannot retry a {job.status} job (only failed or cancelled)")
    jt = get_job_type(job.job_type)
    budget_check(user=job.owner, estimate=jt.estimated_cost(jt.parse_params(job.params)))
    with transaction.atomic():
        job_discard_outputs(job_id=job.id)
        changed = Job.objects.filter(
            id=job.id, status__in=(JobStatus.FAILED, JobStatus.CANCELLED)
        ).update(
            status=JobStatus.QUEUED,
            attempts=0,
            progress=0.0,
            stage="",
            stage_label="",
            eta_seconds=None,
            error="",
            error_detail="",
            result=None,
            run_after=None,
            worker="",
            started_at=None,
            completed_at=None,
            expires_at=None,
            updated_at=timezone.now(),
        )
        if changed:
            transaction.on_commit(lambda: queue.enqueue(job.id, timeout=jt.timeout))
    job.refresh_from_db()
    if not changed:
        raise IllegalTransition(f"cannot retry a {job.status} job (only failed or cancelled)")
    return job


def job_delete(*, job: Job) -> int:
    """Delete a job and exactly its files (cancelling it first if it is still active).
    Returns the number of files deleted."""
    if job.status not in TERMINAL:
        try:
            job_cancel(job=job)
        except IllegalTransition:
            pass  # it finished meanwhile
    deleted = _delete_files(JobFile.objects.filter(job_id=job.id))
    Job.objects.filter(id=job.id).delete()
    return deleted


# --- files --------------------------------------------------------------------------------------
def job_file_store(
    *, job_id, local_path: Path, role: str, label: str = "", filename: str | None = None
):
    """Copy a local file into media storage and register it on the job."""
    filename = filename or local_path.name
    with local_path.open("rb") as fh:
        name = storage_save(
            storage_name_for(job_id, role, filename), File(fh), role=role, label=label or filename
        )
    return JobFile.objects.create(
        job_id=job_id,
        name=name,
        role=role,
        label=label,
        size=local_path.stat().st_size,
        content_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
    )


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


def _delete_files(files) -> int:
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
    return _delete_files(outputs) + _delete_unregistered_outputs(job_id)


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
    return _delete_files(files.exclude(role__in=JobFile.INPUT_ROLES))


# --- costs --------------------------------------------------------------------------------------
def cost_record(
    *,
    job_id,
    owner_id,
    service,
    operation,
    units,
    unit_name,
    cost_usd=None,
    details=None,
    percent=None,
) -> CostEntry:
    """Write a cost entry in the same transaction as the job's progress touch."""
    units = Decimal(str(units))
    if cost_usd is None:
        rate = Decimal(str(settings.COST_RATES.get(f"{service}.{unit_name}", 0)))
        cost_usd = units * rate
    with transaction.atomic():
        entry = CostEntry.objects.create(
            job_id=job_id,
            owner_id=owner_id,
            service=service,
            operation=operation,
            units=units,
            unit_name=unit_name,
            cost_usd=Decimal(str(cost_usd)).quantize(Decimal("0.000001")),
            details=details or {},
        )
        Job.objects.filter(id=job_id).update(updated_at=timezone.now())
    return entry


# --- maintenance --------------------------------------------------------------------------------
def jobs_rescue_stale(*, now=None, job_ids=None) -> dict[str, int]:
    """Processing jobs whose heartbeat is older than the timeout: requeue or fail 'worker lost'.
    `job_ids` limits the pass to those jobs (the admin's "requeue stuck" action)."""
    now = now or timezone.now()
    timeout = settings.JOB_HEARTBEAT_TIMEOUT
    counts = {"requeued": 0, "failed": 0}
    stale = Job.objects.stale_processing(now - timedelta(seconds=timeout))
    if job_ids is not None:
        stale = stale.filter(id__in=job_ids)
    for job in stale:
        _remove_local_temp_dirs(job.id)
        if job.attempts < job.max_attempts:
            job_discard_outputs(job_id=job.id)
            requeued = Job.objects.filter(
                id=job.id, status=JobStatus.PROCESSING, heartbeat_at=job.heartbeat_at
            ).update(
                status=JobStatus.QUEUED,
                error=f"worker lost: no heartbeat for {timeout:.0f} s (attempt {job.attempts}); requeued",
                worker="",
                run_after=None,
                stage="requeued",
                stage_label="Requeued after the worker was lost",
                updated_at=now,
            )
            if requeued:
                counts["requeued"] += 1
                queue.enqueue(job.id, timeout=_timeout_of(job))
        elif job_fail(job_id=job.id, message=WORKER_LOST.format(seconds=timeout)):
            counts["failed"] += 1
    return counts


def _timeout_of(job: Job) -> int:
    try:
        return get_job_type(job.job_type).timeout
    except UnknownJobType:  # a type removed from the code: the runner will fail it clearly
        return 3600


def _remove_local_temp_dirs(job_id) -> None:
    root = settings.JOB_TEMP_DIR / "jobs"
    if root.is_dir():
        for path in root.glob(f"{job_id}-*"):
            shutil.rmtree(path, ignore_errors=True)


def jobs_reconcile(*, now=None) -> int:
    """Queued rows that RQ no longer holds (Redis flushed or restarted, crash between commit and
    enqueue, a retry whose backoff is over) are enqueued again. Returns how many."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.JOB_RECONCILE_GRACE)
    count = 0
    for job in Job.objects.due_queued(now, grace).only("id", "job_type", "priority"):
        if not queue.is_held(job.id):
            if queue.enqueue(job.id, timeout=_timeout_of(job), at_front=job.priority > 0):
                count += 1
    return count


def jobs_cleanup_expired(*, now=None) -> dict[str, int]:
    """Delete terminal jobs past their retention, with exactly their files."""
    now = now or timezone.now()
    counts = {"jobs": 0, "files": 0}
    for job in Job.objects.expired(now):
        counts["files"] += job_delete(job=job)
        counts["jobs"] += 1
    return counts
