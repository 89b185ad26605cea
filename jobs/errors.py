"""Errors the engine understands.

Any exception class with a true `permanent` attribute is treated as bad input: the job fails at
once, without retries. This lets `media_pipeline` raise its own errors without importing `jobs`.
Every engine error is a `core.errors.DomainError` with a code; the API maps codes to HTTP.
"""

from core.errors import DomainError


class JobError(DomainError):
    """Base of errors raised by the engine's services."""

    code = "job_error"
    permanent = False


class PermanentJobError(JobError):
    """Bad input or an impossible request: fail now, retrying cannot help."""

    permanent = True
    code = "permanent_error"


class TransientJobError(JobError):
    """A passing failure (network, busy resource): retry with backoff."""

    permanent = False
    code = "transient_error"


class JobCancelled(JobError):  # noqa: N818 - a signal, not a failure
    """Raised inside a handler when its job was cancelled."""

    code = "cancelled"


class UnknownJobType(JobError):
    code = "unknown_job_type"


class InvalidJobParams(JobError):
    code = "invalid_params"


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

    def __init__(self, *, spent, estimate, limit, reserved=0):
        self.spent, self.estimate, self.limit = spent, estimate, limit
        held = f" (and ${reserved} is reserved by jobs still running)" if reserved else ""
        super().__init__(
            f"Monthly budget exceeded: spent ${spent} this month{held}, this job is estimated "
            f"at ${estimate} and the limit is ${limit}.",
            [
                {
                    "spent_usd": str(spent),
                    **({"reserved_usd": str(reserved)} if reserved else {}),
                    "estimate_usd": str(estimate),
                    "limit_usd": str(limit),
                }
            ],
        )


class IllegalTransition(JobError):
    """A status change the object's current status does not allow."""

    code = "conflict"


class IdempotencyConflict(JobError):
    """An Idempotency-Key already used by the same owner for a different request: HTTP 409."""

    code = "idempotency_conflict"


def is_permanent(exc: BaseException) -> bool:
    return bool(getattr(exc, "permanent", False))
