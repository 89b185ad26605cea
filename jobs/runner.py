"""The RQ entry point: claim the row, run its handler with a context, record the outcome.

Thin by design: every status change is a call into `jobs.services`. A worker takes a wake-up
token of a queue (`run_next`) and the database says which job of that queue runs
(`jobs.services.claims`). Three steps: the claim, the handler (`execute`, which ends in an
`Outcome`), the record (`record`). A worker (`jobs.worker.EngineWorker`) claims and records in
its own process and has a work horse run the handler alone (`jobs.handoff`); a direct call
(`run_job`, a token run without a worker's claim) does the three in one process.
"""

import contextlib
import logging
import signal
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager

from django.db import close_old_connections, connection
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from jobs import handoff, services
from jobs.context import JobContext, Watcher, cancelled_by_signal
from jobs.dbretry import with_db_retry
from jobs.errors import JobCancelled, PermanentJobError
from jobs.outcome import COMPLETED, STOPPED, Outcome
from jobs.registry import get_job_type

logger = logging.getLogger(__name__)

# What a worker sends the horse running its claimed job when the row says it is no longer ours.
CANCEL_SIGNAL = signal.SIGUSR1


def run_next(queue: str) -> str:
    """One wake-up token of `queue` run by a plain RQ worker (the engine's own runs its tokens
    itself: `run_claimed`): run the job the queue's order puts first, if any may start (the
    queue is not paused, under its limits, and has a due job)."""
    close_old_connections()
    try:
        job = with_db_retry(lambda: services.job_claim_next(queue=queue), what="claim")
        if job is None:
            logger.info("queue %s: no job may start now (none due, paused or at a limit)", queue)
            return "idle"
        outcome = execute(job, lambda result: record(job, result))
        _after_job(queue)
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
        return execute(job, lambda result: record(job, result))
    finally:
        connection.close()


def run_claimed(handed: handoff.Handoff) -> str:
    """A wake-up token in a worker (`jobs.worker.EngineWorker`), once it claimed: the handler
    of the job runs in a work horse (`run_handler`), then the worker records what the horse
    reported."""
    if handed.job is None:
        return "idle"
    handoff.run_in_horse(handed)
    return finish_handed(handed)


def run_handler(handed: handoff.Handoff) -> str:
    """In a work horse: run the handler of the job its worker claimed; the worker watches its
    row meanwhile (it sends `CANCEL_SIGNAL` when the job is no longer ours) and records."""
    try:
        return execute(
            handed.job, lambda outcome: _leave(handed, outcome), cancel_signal=CANCEL_SIGNAL
        )
    finally:
        connection.close()  # the horse's own, if its handler opened one


def _leave(handed: handoff.Handoff, outcome: Outcome) -> str:
    handoff.leave_outcome(handed, outcome)
    return outcome.kind


def finish_handed(handed: handoff.Handoff) -> str:
    """In the worker, once the horse run for `handed` ended: record the outcome. Never
    raises (an error here must not end the worker: the job is then left to the rescue)."""
    if handed.job is None:
        return "idle"
    outcome = handoff.collect_outcome(handed)
    if outcome is None:
        logger.warning(
            "job %s: its work horse ended without an outcome (killed or crashed); the "
            "heartbeat rescue takes it over",
            handed.job.id,
        )
        return "lost"
    try:
        recorded = record(handed.job, outcome)
        if handed.queue_limited:
            _after_job(handed.queue)
    except Exception:
        logger.exception("job %s: outcome not recorded; the rescue takes it over", handed.job.id)
        return "unrecorded"
    return recorded


def _after_job(queue: str) -> None:
    # A limit may have turned tokens away while this job ran: one slot is free now. A worker
    # skips this for a job claimed while its queue had no limit (most queues: one read less per
    # job). Tokens turned away under a limit set during such a job are woken by the end of the
    # next job claimed under that limit, or else by the reconcile pass (every
    # MAINTENANCE_INTERVAL), which tops every queue up to what could start.
    with_db_retry(lambda: services.queue_after_job(queue=queue), what="queue wake-up")


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


def execute(job, report: Callable[[Outcome], str], *, cancel_signal: int | None = None) -> str:
    """Run the claimed job's handler with its context, then `report` how it ended (once its
    watch stopped and its temp dir is gone); returns what `report` returns. Watched by a thread
    of this process (`Watcher`), or, given `cancel_signal`, by the worker whose horse this is,
    which sends that signal to stop the job."""
    ctx = JobContext(job)
    if cancel_signal is None:
        watcher = Watcher(ctx)
        watcher.start()
        watch = contextlib.nullcontext()
    else:
        watcher = None
        watch = cancelled_by_signal(ctx, cancel_signal)
    reraise = None
    try:
        jt = get_job_type(job.job_type)
        params = jt.parse_params(job.params)
        with watch, _deadline(jt.timeout):
            result = jt.handler(ctx, params)
    except JobTimeoutException:
        ctx.cancel()  # kills any running ffmpeg
        timeout = get_job_type(job.job_type).timeout
        outcome = Outcome.failure(PermanentJobError(f"timed out after {timeout} s"))
    except BaseException as exc:
        if ctx.cancelled or isinstance(exc, JobCancelled):
            outcome = Outcome.stopped()
        else:
            outcome = Outcome.failure(exc, traceback.format_exc())
        if not isinstance(exc, Exception):
            reraise = exc  # SystemExit / KeyboardInterrupt: the worker is going down
    else:
        outcome = Outcome.completed(result)
    finally:
        if watcher is not None:
            watcher.stop()
        ctx.remove_temp_dir()
    reported = report(outcome)
    if reraise is not None:
        raise reraise
    return reported


def record(job, outcome: Outcome) -> str:
    """Write an attempt's outcome on its row: completed, stopped (a cancelled run's outputs
    dropped) or failed (retried later or failed for good)."""
    if outcome.kind == COMPLETED:
        try:
            done = with_db_retry(
                lambda: services.job_complete(job_id=job.id, result=outcome.result),
                what="complete",
            )
        except Exception as exc:  # the type's on_change hook refused the completion
            return _record_failure(job, Outcome.failure(exc, traceback.format_exc()))
        if done:
            return "completed"
        outcome = Outcome.stopped()  # cancelled while finishing: its outputs must not stay
    if outcome.kind == STOPPED:
        logger.info("job %s stopped: no longer processing (cancelled or rescued)", job.id)
        with_db_retry(
            lambda: services.job_discard_cancelled_outputs(job_id=job.id), what="discard outputs"
        )
        return "stopped"
    return _record_failure(job, outcome)


def _record_failure(job, outcome: Outcome) -> str:
    logger.warning("job %s attempt %s failed: %s", job.id, job.attempts, outcome.message)
    return with_db_retry(
        lambda: services.job_record_failure(
            job_id=job.id,
            message=outcome.message,
            permanent=outcome.permanent,
            detail=outcome.detail,
        ),
        what="error write",
    )
