"""The engine's services, split by responsibility; callers use this package's names.

- transitions: the one function that changes a job's status (and tells the job's type)
- lifecycle: create, claim, complete, fail, cancel, retry, delete
- progress: progress and heartbeats of a running job
- files: a job's input and output files, and deleting exactly those
- costs: recording paid-API usage
- events: a job's event log (one row per status change) and its attempts
- idempotency: idempotency keys on creation
- maintenance: rescuing lost jobs, re-enqueueing what Redis lost
- retention: deleting old jobs under one age rule
"""

from jobs.services.costs import cost_record
from jobs.services.events import job_history
from jobs.services.files import (
    job_discard_cancelled_outputs,
    job_discard_outputs,
    job_file_local_path,
    job_file_store,
    job_files_adopt,
    storage_name_for,
    storage_save,
)
from jobs.services.idempotency import idempotency_key_used
from jobs.services.lifecycle import (
    job_cancel,
    job_claim,
    job_complete,
    job_create,
    job_delete,
    job_fail,
    job_handle_error,
    job_retry,
    job_retry_refusal,
    retry_delay,
)
from jobs.services.maintenance import WORKER_LOST, jobs_reconcile, jobs_rescue_stale
from jobs.services.progress import job_heartbeat, job_is_processing, job_set_progress
from jobs.services.retention import (
    jobs_cleanup_expired,
    jobs_delete,
    jobs_select_old,
    retention_rule,
)

__all__ = [
    "WORKER_LOST",
    "cost_record",
    "job_cancel",
    "job_claim",
    "job_complete",
    "job_create",
    "job_delete",
    "job_discard_cancelled_outputs",
    "job_discard_outputs",
    "job_fail",
    "job_file_local_path",
    "job_file_store",
    "job_files_adopt",
    "job_handle_error",
    "job_heartbeat",
    "job_history",
    "idempotency_key_used",
    "job_is_processing",
    "job_retry",
    "job_retry_refusal",
    "job_set_progress",
    "retention_rule",
    "jobs_cleanup_expired",
    "jobs_delete",
    "jobs_reconcile",
    "jobs_rescue_stale",
    "jobs_select_old",
    "retry_delay",
    "storage_name_for",
    "storage_save",
]
