"""Errors the engine understands.

Any exception class with a true `permanent` attribute is treated as bad input: the job fails at
once, without retries. This lets `media_pipeline` raise its own errors without importing `jobs`.
"""

import errno
import os


class JobError(Exception):
    """Base of errors raised by the engine's services."""

    code = "job_error"


class PermanentJobError(JobError):
    """Bad input or an impossible request: fail now, retrying cannot help."""

    permanent = True
    code = "permanent_error"


class TransientJobError(JobError):
    """A passing failure (network, busy resource): retry with backoff."""

    permanent = False
    code = "transient_error"


class StorageUnavailable(PermanentJobError):
    """Media storage refused a write: full, over quota, read-only or not permitted.

    Permanent (no automatic retry) on purpose: the attempt has already done its work (a whole
    render), and a retry a few seconds later would redo all of it only to hit the same wall.
    Freeing space or fixing the mount takes an operator, who then retries the failed job (a
    retry starts with a fresh set of attempts)."""

    code = "storage_unavailable"


# errno of a refused write -> what it says about the storage.
_STORAGE_PROBLEMS = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full (over quota)",
    errno.EROFS: "not writable",
    errno.EACCES: "not writable",
    errno.EPERM: "not writable",
}


def storage_error(exc: OSError, *, storage: str, doing: str) -> StorageUnavailable | None:
    """A readable StorageUnavailable for an OSError that means the storage refuses writes
    ("output storage is full (No space left on device) while storing 'video'"); None for
    any other OSError."""
    problem = _STORAGE_PROBLEMS.get(exc.errno)
    if problem is None:
        return None
    return StorageUnavailable(f"{storage} is {problem} ({os.strerror(exc.errno)}) while {doing}")


class JobCancelled(JobError):  # noqa: N818 - a signal, not a failure
    """Raised inside a handler when its job was cancelled."""

    code = "cancelled"


class UnknownJobType(JobError):
    code = "unknown_job_type"


class InvalidJobParams(JobError):
    code = "invalid_params"

    def __init__(self, message: str, details: list | None = None):
        super().__init__(message)
        self.details = details or []


class InvalidCallbackUrl(InvalidJobParams):
    """A callback URL the engine will not POST to (bad scheme, private address...): HTTP 422."""

    code = "invalid_callback_url"

    def __init__(self, message: str):
        super().__init__(
            message, [{"loc": ["callback_url"], "field": "callback_url", "msg": message}]
        )


class BudgetExceeded(JobError):
    """The job's estimated cost would take the owner past a hard monthly budget: HTTP 402."""

    code = "budget_exceeded"

    def __init__(self, *, spent, estimate, limit):
        self.spent, self.estimate, self.limit = spent, estimate, limit
        super().__init__(
            f"Monthly budget exceeded: spent ${spent} this month, this job is estimated at "
            f"${estimate} and the limit is ${limit}."
        )


class IllegalTransition(JobError):
    code = "illegal_transition"


def is_permanent(exc: BaseException) -> bool:
    return bool(getattr(exc, "permanent", False))
