"""A job's life: creation, the worker's claim and outcome, and the operator's cancel, retry and
delete. Every status change goes through `transitions.transition`."""

import logging
from datetime import timedelta

import pydantic
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DomainError, error_in_words
from jobs import options, queue
from jobs.budgets import budget_check
from jobs.errors import IllegalTransition, is_permanent
from jobs.models import DeletedImport, Job, JobEvent, JobFile
from jobs.queues import validate_priority
from jobs.registry import get_job_type
from jobs.services import idempotency
from jobs.services.events import job_event_record
from jobs.services.files import (
    delete_job_files,
    job_discard_outputs,
    job_input_share,
    job_input_store,
)
from jobs.services.transitions import tell_job_type, transition
from jobs.status import TERMINAL, JobChange, JobStatus
from jobs.webhook_urls import validate_callback_url
from media_pipeline.ops.network_errors import network_cause, without_reprs

logger = logging.getLogger(__name__)


# --- creation -----------------------------------------------------------------------------------
def job_create(
    *,
    job_type: str,
    params: dict | pydantic.BaseModel | None = None,
    owner=None,
    inputs: dict[str, File] | None = None,
    shared_inputs: dict[str, str] | None = None,
    max_attempts: int | None = None,
    priority: int = 0,
    callback_url: str = "",
    run_at=None,
    metadata: dict | None = None,
    webhook_progress: bool = False,
    idempotency_key: str | None = None,
) -> Job:
    """Validate, insert the row (and its input files) and wake its queue after commit.

    `params` is validated here unless the caller already parsed it with the type's schema (a
    subclass instance too: an endpoint's request body that adds its own fields);
    `callback_url` likewise unless it came from `webhook_urls.validate_callback_url`. `inputs` are
    uploads copied into the job's storage (deleted with the job); `shared_inputs` are storage
    names owned by someone else (a library source video), read in place and never deleted with
    the job. An unknown type, invalid params or options (jobs.options), a priority out of
    bounds (jobs.queues), a refused callback URL or a passed hard budget (BudgetExceeded) raises
    before anything is written; a paid job's estimate is reserved against its owner's budget in
    the transaction that inserts it (jobs.budgets). After commit, the job's queue gets a wake-up
    token (jobs.queue).

    `run_at`: the job stays queued until then (the maintenance loop's reconcile wakes its queue
    when due). `idempotency_key`: when this owner already created a job with it, that job is
    returned (`job.replayed` is True) and nothing is written, or IdempotencyConflict when it was
    another request (jobs.services.idempotency)."""
    jt = get_job_type(job_type)
    priority = validate_priority(priority)
    parsed = params if isinstance(params, jt.params_schema) else jt.parse_params(params)
    # A subclass carrying an endpoint's own fields (a callback URL) stores the type's fields only.
    stored = parsed.model_dump(mode="json", include=set(jt.params_schema.model_fields))
    callback_url = validate_callback_url(callback_url)
    run_after = options.validate_run_at(run_at)
    metadata = options.validate_metadata(metadata)
    webhook_progress = options.validate_webhook_progress(webhook_progress, callback_url)
    key = options.validate_idempotency_key(idempotency_key)
    request = key and idempotency.creation_request(
        job_type=job_type,
        params=stored,
        inputs=inputs,
        shared_inputs=shared_inputs,
        callback_url=callback_url,
        run_after=run_after,
        metadata=metadata,
        webhook_progress=webhook_progress,
        priority=priority,
        max_attempts=max_attempts,
    )
    if key and (replayed := idempotency.job_replay(owner=owner, key=key, request=request)):
        return replayed
    estimate = jt.estimated_cost(parsed)
    job = Job(
        job_type=job_type,
        owner=owner,
        params=stored,
        max_attempts=max_attempts or jt.max_attempts,
        priority=priority,
        callback_url=callback_url,
        reserved_usd=estimate,
        run_after=run_after,
        metadata=metadata,
        webhook_progress=webhook_progress,
        idempotency_key=key,
        request_digest=key and idempotency.request_digest(request),
    )
    job.replayed = False
    stored: list[str] = []
    try:
        with transaction.atomic():
            budget_check(user=owner, estimate=estimate)  # reserved by the same transaction
            job.save(force_insert=True)
            job_event_record(job=job, kind=JobEvent.Kind.QUEUED)
            for label, upload in (inputs or {}).items():
                stored.append(job_input_store(job, label, upload))
            for label, name in (shared_inputs or {}).items():
                job_input_share(job, label, name)
            if run_after is None:  # a scheduled job's queue is woken by the reconcile when due
                transaction.on_commit(lambda: queue.wake(jt.queue))
    except Exception as exc:
        for name in stored:
            default_storage.delete(name)
        # The same key inserted by a concurrent request: answer its job (or the conflict).
        if key and isinstance(exc, IntegrityError):
            replayed = idempotency.job_replay(owner=owner, key=key, request=request)
            if replayed:
                return replayed
        raise
    return job


# --- the worker's side (its claim: jobs.services.claims) ---------------------------------------
def job_complete(*, job_id, result: dict | None) -> bool:
    changed = transition(
        job_id,
        JobStatus.COMPLETED,
        result=result or {},
        progress=100.0,
        stage="done",
        stage_label="Done",
        eta_seconds=0,
        completed_at=timezone.now(),
        error="",
        error_detail="",
    )
    return changed is not None


def retry_delay(attempts: int) -> float:
    """Exponential backoff after the n-th failed attempt: base * 2**(n-1), capped."""
    return min(
        settings.JOB_RETRY_BACKOFF_BASE * 2 ** max(attempts - 1, 0), settings.JOB_RETRY_BACKOFF_MAX
    )


def job_handle_error(*, job_id, exc: BaseException, detail: str = "") -> str:
    """Record a failed attempt from its exception (see `job_record_failure`)."""
    return job_record_failure(
        job_id=job_id, message=error_message(exc), permanent=is_permanent(exc), detail=detail
    )


def job_record_failure(*, job_id, message: str, permanent: bool, detail: str = "") -> str:
    """Record a failed attempt: retry later (transient, attempts left) or fail for good. The
    error comes in words (`error_message`): a work horse reports it to the worker that records
    it (jobs.runner).

    Returns the status the job ended in (or its current one when it was no longer ours)."""
    job = Job.objects.get(id=job_id)
    if job.status != JobStatus.PROCESSING:
        return job.status
    job_discard_outputs(job_id=job_id)
    if not permanent and job.attempts < job.max_attempts:
        delay = retry_delay(job.attempts)
        if transition(
            job_id,
            JobStatus.QUEUED,
            only_from=(JobStatus.PROCESSING,),
            change=JobChange.RETRYING,
            error=message,
            error_detail=detail,
            run_after=timezone.now() + timedelta(seconds=delay),
            stage="retry_wait",
            stage_label=f"Retrying in {delay:.0f} s (attempt {job.attempts} failed)",
            eta_seconds=None,
            worker="",
        ):
            return JobStatus.QUEUED
    _fail(job_id, message, detail, only_from=(JobStatus.PROCESSING,))
    return JobStatus.FAILED


def error_message(exc: BaseException) -> str:
    """What the user reads: words, never an object repr. Errors of the product (a class that
    declares `permanent`: media, TTS, engine errors) carry a message written for the user; a
    network failure that escaped its handler is put in words; anything else unexpected keeps
    its class name, which tells an operator where to look."""
    text = without_reprs(str(exc).strip()) or exc.__class__.__name__
    if hasattr(exc, "permanent"):
        return text
    cause = network_cause(exc)
    if cause:
        return f"a network call failed: {cause}"
    return f"{exc.__class__.__name__}: {text}"


def _fail(job_id, message: str, detail: str, *, only_from) -> bool:
    failed = transition(
        job_id,
        JobStatus.FAILED,
        only_from=only_from,
        error=message[:5000],
        error_detail=detail,
        completed_at=timezone.now(),
        eta_seconds=None,
    )
    return failed is not None


def job_fail(*, job_id, message: str, detail: str = "") -> bool:
    """Fail a job now (no retry), whatever its attempts."""
    job_discard_outputs(job_id=job_id)
    return _fail(job_id, message, detail, only_from=(JobStatus.QUEUED, JobStatus.PROCESSING))


# --- operator and API actions -------------------------------------------------------------------
def _cancel(job_id, change: str) -> Job | None:
    return transition(
        job_id,
        JobStatus.CANCELLED,
        change=change,
        completed_at=timezone.now(),
        stage="cancelled",
        stage_label="Cancelled",
        eta_seconds=None,
    )


def job_cancel(*, job: Job) -> Job:
    """Queued or processing -> cancelled. A running worker notices within a poll interval,
    kills its ffmpeg and cleans up. Raises IllegalTransition for terminal jobs."""
    cancelled = _cancel(job.id, JobChange.CANCELLED)
    job.refresh_from_db()
    if cancelled is None:
        raise IllegalTransition(f"cannot cancel a {job.status} job")
    return job


def job_retry_refusal(job: Job) -> str | None:
    """Why retrying this job cannot work, in words (None when it can): its state, a job type no
    longer installed, or params that no longer validate (an imported job, say). Budgets are
    checked by the retry itself: they change from one moment to the next."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        return f"cannot retry a {job.status} job (only failed or cancelled)"
    try:
        get_job_type(job.job_type).parse_params(job.params)
    except DomainError as exc:
        return error_in_words(exc)
    return None


def job_retry(*, job: Job) -> Job:
    """Failed or cancelled -> queued, with a fresh set of attempts (attempts reset to 0)."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise IllegalTransition(f"cannot retry a {job.status} job (only failed or cancelled)")
    jt = get_job_type(job.job_type)
    estimate = jt.estimated_cost(jt.parse_params(job.params))
    with transaction.atomic():
        budget_check(user=job.owner, estimate=estimate)  # and reserved by the transition
        job_discard_outputs(job_id=job.id)
        retried = transition(
            job.id,
            JobStatus.QUEUED,
            only_from=(JobStatus.FAILED, JobStatus.CANCELLED),
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
            reserved_usd=estimate,
        )
        if retried:
            transaction.on_commit(lambda: queue.wake(jt.queue))
    job.refresh_from_db()
    if not retried:
        raise IllegalTransition(f"cannot retry a {job.status} job (only failed or cancelled)")
    return job


def job_set_priority(*, job: Job, priority: int) -> Job:
    """Change a queued job's priority (its place in its queue changes with it). Raises Invalid
    for a value out of bounds and IllegalTransition once the job has started or ended."""
    priority = validate_priority(priority)
    if not Job.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
        priority=priority, updated_at=timezone.now()
    ):
        job.refresh_from_db()
        raise IllegalTransition(
            f"cannot change the priority of a {job.status} job (only while it is queued)"
        )
    job.refresh_from_db()
    return job


def job_delete(*, job: Job) -> int:
    """Delete a job and exactly its files (cancelling it first if it is still active); its type
    hears of the deletion. Returns the number of files deleted."""
    # An active job is cancelled first, and that cancellation is announced as the deletion.
    cancelled = job.status not in TERMINAL and _cancel(job.id, JobChange.DELETED) is not None
    with transaction.atomic():
        if not cancelled:
            tell_job_type(job, JobChange.DELETED)
        deleted = delete_job_files(JobFile.objects.filter(job_id=job.id))
        Job.objects.filter(id=job.id).delete()
        if job.imported:  # a re-import must not bring it back by surprise
            DeletedImport.objects.get_or_create(job_id=job.id)
    return deleted
