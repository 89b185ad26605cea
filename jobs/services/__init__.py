"""The engine's services, split by responsibility; callers use this package's names.

- transitions: the one function that changes a job's status (and tells the job's type)
- lifecycle: create, complete, fail, cancel, retry, set priority, delete
- claims: the worker's claim (priority, fair turns across users, pause and limits)
- queues: pausing and resuming a queue, its limits, waking its workers
- positions: a queued job's place in its queue and its estimated start
- progress: progress and heartbeats of a running job
- files: a job's input and output files, and deleting exactly those
- costs: recording paid-API usage
- events: a job's event log (one row per status change) and its attempts
- idempotency: idempotency keys on creation
- maintenance: rescuing lost jobs, re-enqueueing what Redis lost
- retention: deleting old jobs under one age rule
"""

from jobs.services.claims import job_claim, job_claim_next, job_claim_next_seeing_limits
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
    error_message,
    job_cancel,
    job_complete,
    job_create,
    job_delete,
    job_fail,
    job_handle_error,
    job_record_failure,
    job_retry,
    job_retry_refusal,
    job_set_priority,
    retry_delay,
)
from jobs.services.maintenance import WORKER_LOST, jobs_reconcile, jobs_rescue_stale
from jobs.services.positions import QueuePlace, job_queue_place, queue_place
from jobs.services.progress import job_heartbeat, job_is_processing, job_set_progress
from jobs.services.queues import (
    queue_after_job,
    queue_pause,
    queue_resume,
    queue_top_up,
    queues_top_up,
)
from jobs.services.retention import (
    jobs_cleanup_expired,
    jobs_delete,
    jobs_select_old,
    retention_rule,
)

__all__ = [
    "WORKER_LOST",
    "QueuePlace",
    "job_queue_place",
    "queue_after_job",
    "queue_pause",
    "queue_place",
    "queue_resume",
    "queue_top_up",
    "queues_top_up",
    "cost_record",
    "job_cancel",
    "job_claim",
    "job_claim_next",
    "job_claim_next_seeing_limits",
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
    "job_record_failure",
    "error_message",
    "job_heartbeat",
    "job_history",
    "idempotency_key_used",
    "job_is_processing",
    "job_retry",
    "job_retry_refusal",
    "job_set_priority",
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
