"""Errors a user can act on, raised by domain code in any layer.

Each carries a `code` (what kind of problem), a message in words and optional `details` (the
fields at fault). Domain code never speaks HTTP: `core.apierrors` is the one place that turns a
code into an HTTP status. `permanent = True` tells the job engine that retrying cannot help.
"""

import errno
import os


class DomainError(Exception):
    code = "error"
    permanent = True

    def __init__(self, message: str, details: list | None = None, *, headers=None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else []
        # Travel with an HTTP answer (Retry-After, say); meaningless elsewhere.
        self.headers = headers or {}


def error_in_words(exc: DomainError) -> str:
    """The message and the fields at fault, as one line for a person (admin messages, logs)."""
    fields = []
    for detail in exc.details:
        if isinstance(detail, dict) and detail.get("msg"):
            where = detail.get("field") or ".".join(map(str, detail.get("loc") or []))
            fields.append(f"{where}: {detail['msg']}" if where else str(detail["msg"]))
    return f"{exc.message} ({'; '.join(fields)})" if fields else exc.message


class Invalid(DomainError):
    """The request or its data is invalid (a field out of range, contradictory values...)."""

    code = "validation_error"

    @classmethod
    def field(cls, field: str, message: str, **extra) -> "Invalid":
        return cls(message, [{"field": field, "msg": message, **extra}])


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The object is in a state that does not allow this (generating, in the trash...)."""

    code = "conflict"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMedia(DomainError):
    code = "unsupported_media"


class InvalidMedia(DomainError):
    code = "invalid_media"


class RateLimited(DomainError):
    code = "rate_limited"
    permanent = False


class StorageUnavailable(DomainError):
    """Media storage refused a write: full, over quota, read-only or not permitted.

    Permanent (no automatic retry) on purpose: a job's attempt has already done its work (a whole
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
    # An object store's answers (core.objectstore): the server is down or refuses the request.
    errno.ECONNREFUSED: "unreachable",
    errno.EIO: "failing",
}


def storage_error(exc: OSError, *, storage: str, doing: str) -> StorageUnavailable | None:
    """A readable StorageUnavailable for an OSError that means the storage refuses writes
    ("output storage is full (No space left on device) while storing 'video'"); None for
    any other OSError."""
    problem = _STORAGE_PROBLEMS.get(exc.errno)
    if problem is None:
        return None
    words = exc.strerror or os.strerror(exc.errno)  # an object store's says what it answered
    return StorageUnavailable(f"{storage} is {problem} ({words}) while {doing}")
