"""Idempotency keys on job creation, as Stripe has them: the same key from the same owner answers
the job the first request created (no second row), provided the request is the same; the same
key with another request is a conflict (409). Concurrent requests with one key insert one row:
the unique constraint (owner, idempotency_key) lets one insert win, the others find its job.

A key lives as long as its job: deleting the job (by hand or by retention) frees it.
"""

import hashlib
import json

from jobs.errors import IdempotencyConflict
from jobs.models import Job
from jobs.options import IDEMPOTENCY_HEADER

_CHUNK = 1 << 20


def _file_digest(upload) -> str:
    """SHA-256 of an upload's content (a Django File: chunks() reads from its start); the file
    is left at its start for the copy into storage."""
    digest = hashlib.sha256()
    for chunk in upload.chunks(_CHUNK):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def creation_request(
    *,
    job_type: str,
    params: dict,
    inputs: dict | None,
    shared_inputs: dict | None,
    callback_url: str,
    run_after,
    metadata: dict,
    webhook_progress: bool,
    priority: int,
    max_attempts: int | None,
) -> dict:
    """What a creation asked for, as plain JSON values (uploads by their content's digest)."""
    return {
        "job_type": job_type,
        "params": params,
        "inputs": {label: _file_digest(f) for label, f in sorted((inputs or {}).items())},
        "shared_inputs": dict(sorted((shared_inputs or {}).items())),
        "callback_url": callback_url,
        "run_at": run_after.isoformat() if run_after else None,
        "metadata": metadata,
        "webhook_progress": webhook_progress,
        "priority": priority,
        "max_attempts": max_attempts,
    }


def request_digest(request: dict) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key_used(*, owner, key: str) -> bool:
    """Whether a job holds this key (a replay: the rate limit does not count it again)."""
    return bool(key) and Job.objects.filter(owner=owner, idempotency_key=key).exists()


def _differences(job: Job, request: dict) -> list[str]:
    """The parts of `request` that differ from what `job` was created with, where the row
    shows them (input files are known by the request's digest only)."""
    seen = {
        "job_type": job.job_type,
        "params": job.params,
        "callback_url": job.callback_url,
        "metadata": job.metadata,
        "webhook_progress": job.webhook_progress,
    }
    return [name for name, value in seen.items() if request[name] != value]


def job_replay(*, owner, key: str, request: dict) -> Job | None:
    """The job this owner created with this key (`job.replayed` set), None when there is none;
    IdempotencyConflict when it was created by a different request."""
    job = Job.objects.filter(owner=owner, idempotency_key=key).first()
    if job is None:
        return None
    if job.request_digest != request_digest(request):
        differing = _differences(job, request) or ["the input files, schedule or options"]
        raise IdempotencyConflict(
            f"the {IDEMPOTENCY_HEADER} '{key}' was already used for a different request "
            f"(job {job.id}): it differs in {', '.join(differing)}. Repeat the same request "
            "with this key, or use a new key for a new job.",
            [{"field": IDEMPOTENCY_HEADER, "job_id": str(job.id), "differs": differing}],
        )
    job.replayed = True
    return job
