"""What every frontend route shares: string ids, path tokens, the job status words the frontend
knows, synchronous answers by a bounded wait on a job, and refusals it can show."""

import asyncio
import time

from django.conf import settings

from core.asyncdb import db_call
from core.errors import DomainError, NotFound
from core.media_urls import InvalidMediaLink, media_token, read_media_token
from jobs.models import Job
from jobs.status import JobStatus

# --- ids ----------------------------------------------------------------------------------------


def str_id(pk) -> str:
    """The frontend's ids are opaque strings."""
    return str(pk)


def pk_of(text: str, *, what: str) -> int:
    """The row id in a frontend id; an id that is not one of ours is simply not found (404)."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise NotFound(f"{what} {text!r} not found") from None
    if not 0 < value < 2**63:
        raise NotFound(f"{what} {text!r} not found")
    return value


def owned_row(queryset, user, text_id: str, *, what: str):
    """The user's row of that frontend id; another user's or an unknown one is a 404."""
    pk = pk_of(text_id, what=what)
    row = queryset.for_owner(user).filter(id=pk).first()
    if row is None:
        raise NotFound(f"{what} {text_id!r} not found")
    return row


# --- path tokens --------------------------------------------------------------------------------


def path_token(name: str | None, *, owner_id: int) -> str | None:
    """The contract's path token for a stored file (None for no file): a signed, expiring,
    per-file token that /files/{token} and /library/files/{token} serve without a header."""
    return media_token(name, owner_id=owner_id) if name else None


def storage_name_of(token: str, *, user, field: str) -> str:
    """The stored file a path token sent back in a request names; a token that is not the
    user's, altered or expired is a 422 naming the field."""
    try:
        claim = read_media_token(token)
    except InvalidMediaLink as exc:
        raise InvalidMediaLink(f"'{field}': {exc.message}", [{"field": field}]) from None
    if claim.owner_id != user.pk:
        raise InvalidMediaLink(f"'{field}' names a file that is not yours", [{"field": field}])
    return claim.name


# --- job status words ---------------------------------------------------------------------------


def job_status_word(job: Job) -> str:
    """The frontend knows exactly pending, processing, completed and failed: a job waiting to be
    retried is still processing; a cancelled job has failed (its error says it was cancelled)."""
    if job.status == JobStatus.QUEUED:
        return "processing" if job.attempts else "pending"
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        return "failed"
    return job.status


def job_error_text(job: Job) -> str:
    if job.status == JobStatus.CANCELLED:
        return job.error or "The job was cancelled."
    return job.error if job.status == JobStatus.FAILED else ""


def job_progress_text(job: Job) -> str:
    """Progress as the readable text the frontend shows, starting with the percentage (a page
    that parses it as a number reads the percentage): "45% – Rendering variant 2 of 3"."""
    word = job_status_word(job)
    if word == "pending":
        return "0% – Queued"
    label = job.stage_label or job.stage or word.capitalize()
    text = f"{int(job.progress)}% – {label}"
    if job.status == JobStatus.PROCESSING and job.eta_seconds:
        minutes, seconds = divmod(int(job.eta_seconds), 60)
        text += f" (about {minutes}:{seconds:02d} left)"
    return text


# --- synchronous answers ------------------------------------------------------------------------


class JobStillRunning(DomainError):
    """A bounded wait ran out: the answer names the job to poll instead (HTTP 504)."""

    code = "job_still_running"
    permanent = False

    def __init__(self, job_id, seconds: float):
        super().__init__(
            f"The job {job_id} is still running after {seconds:g} s; "
            f"poll GET /jobs/{job_id} for its result.",
            [{"job_id": str(job_id), "status_url": f"/jobs/{job_id}"}],
        )


class NotSupported(DomainError):
    """A part of the frontend this backend does not provide (HTTP 501)."""

    code = "not_implemented"


def _job_row(job_id) -> Job:
    return Job.objects.get(id=job_id)


async def wait_for_job(job_id, *, seconds: float | None = None, poll: float = 0.2) -> Job:
    """The job once it has ended, waiting at most `seconds` (EF_FRONTEND_SYNC_WAIT) without
    holding a thread; JobStillRunning past that."""
    seconds = settings.FRONTEND_SYNC_WAIT if seconds is None else seconds
    deadline = time.monotonic() + seconds
    while True:
        job = await db_call(_job_row, job_id)
        if job.is_terminal:
            return job
        if time.monotonic() >= deadline:
            raise JobStillRunning(job_id, seconds)
        await asyncio.sleep(poll)
