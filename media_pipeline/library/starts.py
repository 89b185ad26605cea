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
    priority: int | None = None,
) -> Job:
    """The created (queued) job; RateLimited, invalid params, a priority out of bounds or a
    passed budget raise first."""
    check_job_rate_limit(owner)
    return job_services.job_create(
        job_type=job_type,
        params=params,
        owner=owner,
        inputs=inputs,
        shared_inputs=shared_inputs,
        callback_url=callback_url or "",
        priority=0 if priority is None else priority,
    )
