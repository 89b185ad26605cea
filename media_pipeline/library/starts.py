"""Starting a job for a user: the rate limit, then the engine's `job_create`. Every library
service and endpoint that starts a job goes through `job_start`, so the limit is never skipped."""

from jobs import services as job_services
from jobs.limits import check_job_rate_limit
from jobs.models import Job


def job_start(
    *,
    owner,
    job_type: str,
    params=None,
    inputs: dict | None = None,
    shared_inputs: dict | None = None,
    callback_url: str | None = None,
    run_at=None,
    metadata: dict | None = None,
    webhook_progress: bool = False,
    idempotency_key: str | None = None,
) -> Job:
    """The created (queued) job; RateLimited, invalid params or options or a passed budget raise
    first. With an `idempotency_key` this owner already used, the job it created is answered
    (`job.replayed`) or the conflict raised, and the rate limit does not count it again."""
    if not job_services.idempotency_key_used(owner=owner, key=idempotency_key or ""):
        check_job_rate_limit(owner)
    return job_services.job_create(
        job_type=job_type,
        params=params,
        owner=owner,
        inputs=inputs,
        shared_inputs=shared_inputs,
        callback_url=callback_url or "",
        run_at=run_at,
        metadata=metadata,
        webhook_progress=webhook_progress,
        idempotency_key=idempotency_key,
    )
