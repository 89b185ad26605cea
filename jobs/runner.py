"""The RQ entry point: claim the row, run its handler with a context, record the outcome.

Thin by design: every status change is a call into `jobs.services`. A worker takes a wake-up
token of a queue (`run_next`) and the database says which job of that queue runs
(`jobs.services.claims`).
"""

import logging
import threading
import traceback
from contextlib import contextmanager

from django.db import close_old_connections, connection
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from jobs import services
from jobs.context import JobContext, Watcher
from jobs.dbretry import with_db_retry
from jobs.errors import JobCancelled, PermanentJobError
from jobs.registry import get_job_type

logger = logging.getLogger(__name__)


def run_next(queue: str) -> str:
    """One wake-up token of `queue`: run the job the queue's order puts first, if any may start
    (the queue is not paused, under its limits, and has a due job)."""
    close_old_connections()
    try:
        job = with_db_retry(lambda: services.job_claim_next(queue=queue), what="claim")
        if job is None:
            logger.info("queue %s: no job may start now (none due, paused or at a limit)", queue)
            return "idle"
        outcome = _execute(job)
        # A limit may have turned tokens away while this job ran: one slot is free now.
        with_db_retry(lambda: services.queue_after_job(queue=queue), what="queue wake-up")
        return outcome
    finally:
        connection.close()


def run_job(job_id: str) -> str:
    """Run one given job (a direct delivery: tests, benchmarks). A second delivery of a claimed
    job does nothing."""
    close_old_connections()
    try:
        job = with_db_retry(lambda: services.job_claim(job_id=job_id), what="claim")
        if job is None:
            logger.info(
                "job %s not claimable (already taken, finished or not due): skipped", job_id
            )
            return "skipped"
        return _execute(job)
    finally:
        connection.close()


@contextmanager
def _deadline(seconds: int):
    """The job type's timeout, armed for its handler (SIGALRM, as RQ's own death penalty; the
    token's penalty, the longest of its queue, stays the outer bound). Signals are the main
    thread's: elsewhere (a test calling the runner from a thread) only RQ's bound applies."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with UnixSignalDeathPenalty(seconds, JobTimeoutException):
        yield


def _execute(job) -> str:
    ctx = JobContext(job)
    watcher = Watcher(ctx)
    watcher.start()
    try:
        jt = get_job_type(job.job_type)
        params = jt.parse_params(job.params)
        with _deadline(jt.timeout):
            result = jt.handler(ctx, params)
    except JobTimeoutException:
        ctx.cancel()  # kills any running ffmpeg
        outcome = _record_error(
            job, PermanentJobError(f"timed out after {get_job_type(job.job_type).timeout} s")
        )
    except BaseException as exc:
        if ctx.cancelled or isinstance(exc, JobCancelled):
            outcome = _record_stopped(job)
        else:
            outcome = _record_error(job, exc, traceback.format_exc())
        if not isinstance(exc, Exception):
            raise  # SystemExit / KeyboardInterrupt: the worker is going down
    else:
        try:
            outcome = _record_success(job, result)
        except Exception as exc:  # the type's on_change hook refused the completion
            outcome = _record_error(job, exc, traceback.format_exc())
    finally:
        watcher.stop()
        ctx.remove_temp_dir()
    return outcome


def _record_success(job, result) -> str:
    if with_db_retry(lambda: services.job_complete(job_id=job.id, result=result), what="complete"):
        return "completed"
    return _record_stopped(job)  # cancelled while finishing: its outputs must not stay


def _record_stopped(job) -> str:
    logger.info("job %s stopped: no longer processing (cancelled or rescued)", job.id)
    with_db_retry(
        lambda: services.job_discard_cancelled_outputs(job_id=job.id), what="discard outputs"
    )
    return "stopped"


def _record_error(job, exc: BaseException, detail: str = "") -> str:
    logger.warning("job %s attempt %s failed: %s", job.id, job.attempts, exc)
    return with_db_retry(
        lambda: services.job_handle_error(job_id=job.id, exc=exc, detail=detail), what="error write"
    )
