"""What a handler gets: progress, cancellation, heartbeats, costs, files and a temp dir.

`media_pipeline` never imports this module; it only calls the methods of the object it is given.
"""

import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from jobs import services
from jobs.dbretry import with_db_retry
from jobs.errors import JobCancelled
from jobs.webhook_progress import ProgressWebhooks

logger = logging.getLogger(__name__)


class ProgressTracker:
    """Throttled, monotonic progress with an ETA from the observed rate."""

    def __init__(self, write: Callable[..., None], *, min_interval: float, start: float = 0.0):
        self._write = write
        self._min_interval = min_interval
        self._started = time.monotonic()
        self._last_write = 0.0
        self.percent = start
        self.stage = ""
        self.label = ""

    def update(self, percent: float, stage: str | None = None, label: str | None = None) -> None:
        percent = max(self.percent, min(100.0, float(percent)))  # never backwards, never > 100
        stage_changed = (stage is not None and stage != self.stage) or (
            label is not None and label != self.label
        )
        self.percent = percent
        self.stage = self.stage if stage is None else stage
        self.label = self.label if label is None else label
        now = time.monotonic()
        if not stage_changed and now - self._last_write < self._min_interval:
            return
        self._last_write = now
        self._write(percent=percent, stage=self.stage, label=self.label, eta=self.eta(now))

    def eta(self, now: float) -> float | None:
        elapsed = now - self._started
        if self.percent <= 0.5 or elapsed < 0.5:
            return None
        return round(elapsed * (100.0 - self.percent) / self.percent, 1)


class JobContext:
    def __init__(self, job, *, attempt_files: list | None = None):
        self.job_id = job.id
        self.owner_id = job.owner_id
        self.job_type = job.job_type
        self.attempt = job.attempts
        self._cancelled = threading.Event()
        self._processes: set = set()
        self._lock = threading.RLock()  # reentrant: a cancel signal may arrive while it is held
        self._temp_dir: Path | None = None
        self._progress = ProgressTracker(
            self._write_progress,
            min_interval=settings.JOB_PROGRESS_MIN_INTERVAL,
            start=job.progress,
        )
        self._progress_webhooks = ProgressWebhooks(job)

    # --- progress ---------------------------------------------------------------------------
    def progress(self, percent: float, stage: str | None = None, label: str | None = None) -> None:
        self.check_cancelled()
        self._progress.update(percent, stage, label)

    def stage(self, start: float, end: float, stage: str, label: str) -> Callable[[float], None]:
        """Enter a stage spanning [start, end] of the job's percent; returns a callback taking
        the stage's own fraction 0..1 (for example an ffmpeg run's progress)."""
        self.progress(start, stage, label)

        def report(fraction: float) -> None:
            self.progress(start + (end - start) * max(0.0, min(1.0, fraction)))

        return report

    def _write_progress(self, *, percent, stage, label, eta) -> None:
        written = with_db_retry(
            lambda: services.job_set_progress(
                job_id=self.job_id, percent=percent, stage=stage, label=label, eta_seconds=eta
            ),
            what="progress write",
        )
        if written:
            self._progress_webhooks.progress(percent)

    # --- cancellation -----------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled("job was cancelled")

    def track_process(self, process) -> None:
        """Register a child process (ffmpeg) to be killed if the job is cancelled."""
        with self._lock:
            self._processes.add(process)
            if self._cancelled.is_set():
                self._kill(process)

    def untrack_process(self, process) -> None:
        with self._lock:
            self._processes.discard(process)

    def cancel(self) -> None:
        """Called when the row says the job is no longer ours to run (by the watcher thread, or
        the worker's signal to its horse)."""
        with self._lock:
            self._cancelled.set()
            for process in list(self._processes):
                self._kill(process)

    @staticmethod
    def _kill(process) -> None:
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- costs and files --------------------------------------------------------------------
    def record_cost(
        self,
        *,
        service: str,
        operation: str,
        units,
        unit_name: str,
        cost_usd=None,
        audio_seconds=None,
        details=None,
    ):
        return with_db_retry(
            lambda: services.cost_record(
                job_id=self.job_id,
                owner_id=self.owner_id,
                service=service,
                operation=operation,
                units=units,
                unit_name=unit_name,
                cost_usd=cost_usd,
                audio_seconds=audio_seconds,
                details=details or {},
            ),
            what="cost write",
        )

    def add_file(
        self,
        path,
        *,
        role: str = "output",
        label: str = "",
        filename: str | None = None,
        name: str | None = None,
    ):
        """Store a local file in media storage and register it on the job; returns the JobFile.
        `name`: a storage name outside the job's folder, for a file another row adopts when the
        job completes (jobs.services.job_files_adopt)."""
        return services.job_file_store(
            job_id=self.job_id,
            local_path=Path(path),
            role=role,
            label=label,
            filename=filename,
            name=name,
        )

    def input_path(self, label: str) -> Path:
        """A local path of the job's input file with this label (copied from storage if needed)."""
        return services.job_file_local_path(job_id=self.job_id, label=label, temp_dir=self.temp_dir)

    # --- temp dir ---------------------------------------------------------------------------
    @property
    def temp_dir(self) -> Path:
        if self._temp_dir is None:
            self._temp_dir = job_temp_dir(self.job_id, self.attempt)
            self._temp_dir.mkdir(parents=True, exist_ok=True)
        return self._temp_dir

    def remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None


def job_temp_dir(job_id, attempt: int) -> Path:
    return settings.JOB_TEMP_DIR / "jobs" / f"{job_id}-{attempt}"


class RowWatch:
    """Whether a running attempt is still ours, read from its row: a heartbeat every
    `JOB_HEARTBEAT_INTERVAL`, a check in between. A database error counts as still ours (the
    next look retries). Looked at by the watcher thread of a job run in one process, and by a
    worker while its horse runs the job (`jobs.worker.EngineWorker`)."""

    def __init__(self, job_id, attempt: int):
        self.job_id = job_id
        self.attempt = attempt
        self._last_beat = time.monotonic()

    def still_ours(self) -> bool:
        now = time.monotonic()
        beat = now - self._last_beat >= settings.JOB_HEARTBEAT_INTERVAL
        if beat:
            self._last_beat = now
        try:
            if beat:
                return services.job_heartbeat(job_id=self.job_id, attempt=self.attempt)
            return services.job_is_processing(job_id=self.job_id, attempt=self.attempt)
        except Exception:  # a database blip must not stop the watch; the next look retries
            logger.warning("watch of job %s failed", self.job_id, exc_info=True)
            connection.close()
            return True


class Watcher(threading.Thread):
    """Background thread of a job run in one process: heartbeats, and noticing cancellation
    quickly."""

    def __init__(self, ctx: JobContext):
        super().__init__(name=f"watch-{ctx.job_id}", daemon=True)
        self.ctx = ctx
        self._watch = RowWatch(ctx.job_id, ctx.attempt)
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        try:
            while not self._stop_event.wait(settings.JOB_CANCEL_POLL_INTERVAL):
                if not self._watch.still_ours():
                    logger.info("job %s is no longer processing here: stopping it", self.ctx.job_id)
                    self.ctx.cancel()
                    return
        finally:
            connection.close()


@contextmanager
def cancelled_by_signal(ctx: JobContext, signum: int):
    """While in this block, `signum` cancels the job (`ctx.cancel`): how a worker stops the job
    its horse runs. The handler runs in the main thread between two bytecodes, also while it
    holds the context's lock (reentrant)."""
    previous = signal.signal(signum, lambda *_: ctx.cancel())
    try:
        yield
    finally:
        signal.signal(signum, previous)
