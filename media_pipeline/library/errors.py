"""Errors of the library domain (HTTP statuses come from their codes, in core.apierrors)."""

from jobs.errors import PermanentJobError


class LibraryRowGone(PermanentJobError):
    """The row a job works on was deleted, changed or is not the job owner's any more: the job
    fails at once (retrying cannot help) and its outputs are discarded."""
