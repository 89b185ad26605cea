"""A worker claims and records in its own process; a work horse runs the handler alone.

Why: a work horse is forked per job, so a crashing handler or ffmpeg dies with it and not with
the worker (DESIGN.md). A new process has no database connection, and on PostgreSQL opening one
costs more than a short job (`bench/engine.py`). So the worker's process, which lives on, claims
the job on its own lasting connection and runs the token there (`jobs.runner.run_claimed`;
`jobs.worker.EngineWorker._run_token`: without RQ's per-job bookkeeping). Only the handler runs
in a horse (`run_in_horse`: the worker sends the claim to its fork server, whose horse runs
`jobs.runner.run_handler`), which leaves the outcome in a file; the worker
records it once the horse ended (`jobs.runner.finish_handed`). Meanwhile the worker watches the
job's row (heartbeat, cancellation) and signals the horse to stop. A horse opens a connection of
its own only when its handler writes progress, files or costs.

Fork safety: no connection is used on both sides of a fork. The worker forks once, its fork
server (`jobs.forkserver`), before it opens any connection (SQLite's are closed first: SQLite
forbids carrying one across a fork, its locks are per process); horses are forked by the server,
which never opens one. So the worker's connection, SQLite's included, lasts its life. A horse
lets go of any connection it inherited without closing it (a close would end the worker's
PostgreSQL session; psycopg does not close a copy collected in another process either).
"""

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections
from rq.job import Job as RQJob

from jobs import services
from jobs.dbretry import with_db_retry
from jobs.models import Job
from jobs.outcome import Outcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handoff:
    """What a worker claimed for one wake-up token of `queue`: `job` (None when nothing may
    start now: the token is dropped), where its horse leaves the outcome, and whether the queue
    had a limit at the claim (`queue_limited`: only then does the job's end wake the queue, see
    `jobs.runner.finish_handed`)."""

    queue: str
    job: Job | None
    outcome_path: Path
    queue_limited: bool = True


# The worker's way to run a claimed job's handler in a work horse and wait until it ended.
_horses: Callable[[Handoff], None] | None = None


def claim(token: RQJob) -> Handoff:
    """The worker's claim for a wake-up token. A claim that fails drops the token: it changed
    nothing (its transaction rolled back) and the reconcile wakes the queue again. Never
    raises: an error here must not end the worker."""
    queue = token.args[0]
    # One file per worker, emptied before each fork: one found after the horse ended is its own
    # (not one a killed worker of the same pid left behind).
    path = settings.JOB_TEMP_DIR / "outcomes" / f"{socket.gethostname()}-{os.getpid()}.json"
    path.unlink(missing_ok=True)
    try:
        job, limited = with_db_retry(
            lambda: services.job_claim_next_seeing_limits(queue=queue), what="claim"
        )
    except Exception:
        logger.exception("queue %s: claim failed; the token is dropped", queue)
        job, limited = None, True
    return Handoff(queue=queue, job=job, outcome_path=path, queue_limited=limited)


def use_horses(run: Callable[[Handoff], None] | None) -> None:
    """Installed by the worker (`jobs.worker.EngineWorker`): `run(handoff)` has a work horse
    run `jobs.runner.run_handler(handoff)` and returns once the horse ended."""
    global _horses
    _horses = run


def run_in_horse(handoff: Handoff) -> None:
    if _horses is None:
        raise RuntimeError("a claim was handed over with no worker to fork its work horse")
    _horses(handoff)


def leave_outcome(handoff: Handoff, outcome: Outcome) -> None:
    """In the horse: write the outcome for its worker (whole or not at all: a horse killed while
    writing leaves no file, as one killed before)."""
    try:
        text = outcome.dumps()
    except TypeError as exc:  # a result that JSON (and so the row) cannot hold
        text = Outcome.failure(exc).dumps()
    partial = handoff.outcome_path.with_suffix(".part")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(text)
    partial.replace(handoff.outcome_path)


def collect_outcome(handoff: Handoff) -> Outcome | None:
    """In the worker, once its horse ended: the outcome it left (None when it was killed or
    crashed first: the job is then left to the heartbeat rescue, as a job whose worker died)."""
    try:
        text = handoff.outcome_path.read_text()
    except FileNotFoundError:
        return None
    handoff.outcome_path.unlink(missing_ok=True)
    try:
        return Outcome.loads(text)
    except (ValueError, TypeError):
        logger.warning("unreadable outcome of job %s: %r", handoff.job and handoff.job.id, text)
        return None


def before_fork() -> None:
    """In the worker, right before it forks its fork server: close what must not cross it."""
    for conn in connections.all(initialized_only=True):
        if conn.vendor == "sqlite":
            conn.close()


def in_horse() -> None:
    """First thing in a horse: let go of the worker's connections (never closing them: they
    are the worker's); the horse opens its own if it needs one."""
    for conn in connections.all(initialized_only=True):
        conn.connection = None
