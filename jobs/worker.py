"""The RQ worker class used by every Edit Factory worker."""

import gc
import logging
import math
import os
import pickle
import random
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django import db
from django.conf import settings
from redis.exceptions import RedisError
from rq import Worker, worker_registration
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.timeouts import JobTimeoutException
from rq.worker import WorkerStatus

from jobs import handoff, runner, services
from jobs import queue as transport
from jobs.context import RowWatch
from jobs.forkserver import ForkServer, ForkServerGone, HorseLost
from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg

logger = logging.getLogger(__name__)

# Seconds a token's hash outlives its time limit when its worker died running it (a live worker
# deletes it as the run ends); nothing reads it meanwhile but RQ's dashboards.
TOKEN_KEPT_AFTER_LIMIT = 60
# Seconds within which a second beat of the worker is left out (see `EngineWorker._beat_due`).
BEAT_SPACING = 1.0


def warm_up_engine() -> None:
    """Load the database backend and run the engine's queries once (matching no row) in the
    worker's parent process. Work horses are forked per job; without this each of them would
    import and initialise all of it again, which costs more than a short job itself."""
    missing = uuid.uuid4()
    try:
        services.job_claim(job_id=missing)
        services.job_complete(job_id=missing, result={})
        runner.JobContext  # noqa: B018  (the runner module and its imports are loaded)
    except db.DatabaseError as exc:  # the database may be down at start; workers still start
        logger.warning("engine warm-up skipped: %s", exc)
    finally:
        db.connections.close_all()
    # Which ffmpeg to run is decided once here (its capability check starts ffmpeg six times),
    # not again in every work horse. When there is none, `manage.py rqworker`'s system check
    # has refused to start already; a worker started without the checks logs why, and its jobs
    # that run ffmpeg fail saying what is missing.
    try:
        choose_ffmpeg()
    except FFmpegUnavailable as exc:
        logger.error("%s", exc)
    # Long-lived objects out of the collector's reach: no full-collection pauses scanning them,
    # and no copy-on-write of their pages in work horses when a collection would touch them.
    gc.freeze()


@dataclass(frozen=True)
class HorseRequest:
    """What a horse running an RQ job of the engine's own (a webhook delivery) needs of its
    worker's state at the fork: the RQ job (the hash RQ keeps for it, as Redis gives it back),
    its queue and its execution."""

    job_id: str
    job_hash: dict[bytes, bytes]
    queue: str
    execution: tuple[str, float, float]

    @classmethod
    def of(cls, worker: Worker, job, queue) -> "HorseRequest":
        execution = worker.execution
        return cls(
            job_id=job.id,
            job_hash={key.encode(): _redis_bytes(value) for key, value in job.to_dict().items()},
            queue=queue.name,
            execution=(
                execution.id,
                execution.created_at.timestamp(),
                execution.last_heartbeat.timestamp(),
            ),
        )


def _redis_bytes(value) -> bytes:
    """A hash field's value as Redis stores it (redis-py's encoding: str subclasses such as
    RQ's status enum by their text, numbers by their repr)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()


class EngineWorker(Worker):
    """RQ's forking worker: warms up the engine once; claims each wake-up token's job and
    records its outcome in its own process, on a lasting database connection, without RQ's
    per-job bookkeeping (`_run_token`), while a work horse runs the handler alone
    (`jobs.handoff`: which connections cross a fork). Its horses are forked by its fork server
    (`jobs.forkserver`), forked once when the worker starts, so the worker's own pages never
    turn copy-on-write.

    Also, where RQ's defaults do not fit a product whose Redis may be flushed or restarted:
    the worker beats every `WORKER_HEARTBEAT_INTERVAL`, idle or busy, and registers itself again
    when Redis lost its registration; it is listening again within seconds of Redis coming back;
    it keeps watching its work horse through a Redis outage; and its work horse dies with it."""

    # RQ waits 1, 2, 4... up to 60 s between attempts to reach a Redis that went away, so an idle
    # worker could sit out a minute after Redis came back. One attempt every 2 s is no busy loop.
    max_connection_wait_time = 2.0

    def __init__(self, *args, **kwargs):
        # How often the parent wakes from waiting for its horse to beat (RQ: every 30 s).
        kwargs.setdefault("job_monitoring_interval", settings.WORKER_HEARTBEAT_INTERVAL)
        self._fork_server = ForkServer(self._run_horse)
        self._registered_at = -math.inf  # when the last beat wrote RQ's worker registry
        self._beaten_at = -math.inf  # when the last beat was sent
        self._state_written = None  # the state Redis holds, when this worker knows it
        self._subscription_due = False  # its subscription at start found Redis gone
        super().__init__(*args, **kwargs)
        warm_up_engine()

    def work(self, *args, **kwargs):
        """RQ's loop, with the fork server started first (no connection open, no thread of
        RQ's started yet) and stopped when the loop ends."""
        self._start_fork_server()
        handoff.use_horses(self._run_handler_in_horse)
        try:
            return super().work(*args, **kwargs)
        finally:
            handoff.use_horses(None)
            self._fork_server.stop()

    def _start_fork_server(self) -> None:
        handoff.before_fork()
        self._fork_server.start()

    @property
    def dequeue_timeout(self) -> int:
        """An idle worker blocks on BLPOP this long between two beats (RQ: worker_ttl - 15 s,
        405 s by default, which left a flushed registry empty for minutes). The socket timeout
        RQ derives from it (+10 s) stays above it."""
        return max(1, min(settings.WORKER_HEARTBEAT_INTERVAL, super().dequeue_timeout))

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        """RQ's beat, plus this worker's place in RQ's worker registry (idempotent SADDs). RQ
        writes that registry only at birth: after a flush or an empty restart the worker would
        stay invisible (/health `workers: 0`) for as long as it lives. When the beat had to
        create the worker's hash again, its description and state are written back too. Beats
        closer together than `BEAT_SPACING` are one (`_beat_due`). A beat that cannot reach
        Redis is skipped: the loop's BLPOP waits for Redis (see "Redis gone" below)."""
        if pipeline is None and timeout is None and not self._beat_due():
            return
        register = self._registration_due()
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            if register:
                worker_registration.register(self, pipeline)
            return
        try:
            self._beat(timeout, register)
        except RedisError as exc:
            self._redis_unreachable("beat skipped", exc)
            self._beaten_at = -math.inf  # the next one is due
            return
        if self._subscription_due:
            self.subscribe()  # its first try found Redis gone

    def _beat(self, timeout: int | None, register: bool) -> None:
        with self.connection.pipeline() as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            if register:
                worker_registration.register(self, pipe)
            hash_was_gone = pipe.execute()[0] == 1  # HSET created the field: a new hash
        if hash_was_gone:
            logger.info("worker %s: Redis lost its registration; registered again", self.name)
            with self.connection.pipeline() as pipe:
                worker_registration.register(self, pipe)
                pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
                pipe.execute()
            self._state_written = self.get_state()

    # --- Redis gone between two of the loop's steps ---------------------------------------------
    # RQ's loop retries only its BLPOP when Redis is unreachable; any other step that meets the
    # outage (the command channel and state written at start, the suspension check, registry
    # maintenance, the state written around a job) ends the worker. Under load the steps after
    # the worker registered take seconds. Each is skipped instead: the next BLPOP waits for Redis
    # (retried every `max_connection_wait_time`), and the beat that reaches it again registers
    # the worker and subscribes it if it could not.

    def subscribe(self):
        self._subscription_due = False
        try:
            super().subscribe()
        except RedisError as exc:
            self._redis_unreachable("command channel not subscribed yet", exc)
            if self.pubsub is not None:
                self.pubsub.close()
            self.pubsub = self.pubsub_thread = None
            self._subscription_due = True

    def set_state(self, state: str, pipeline=None):
        """RQ's, but a state Redis holds already is not written again (RQ writes `idle` as it
        starts each BLPOP, right after the token's end wrote it)."""
        if pipeline is not None:
            self._state_written = None  # known once that pipeline ran
            return super().set_state(state, pipeline=pipeline)
        if state == self._state_written:
            self._state = state
            return
        try:
            super().set_state(state)
            self._state_written = state
        except RedisError as exc:
            self._redis_unreachable(f"state {state!r} not written", exc)

    def check_for_suspension(self, burst: bool):
        try:
            super().check_for_suspension(burst)
        except RedisError as exc:
            self._redis_unreachable("suspension not checked", exc)

    def run_maintenance_tasks(self):
        try:
            super().run_maintenance_tasks()
        except RedisError as exc:
            self._redis_unreachable("RQ's registry maintenance put off", exc)

    def teardown(self):
        """RQ's death notice; a worker stopping while Redis is gone leaves its registration to
        expire (its key's TTL) rather than ending on a traceback."""
        try:
            super().teardown()
        except RedisError as exc:
            self._redis_unreachable("registration left to expire", exc)

    def _redis_unreachable(self, what: str, exc: RedisError) -> None:
        logger.warning("worker %s: %s, Redis unreachable: %s", self.name, what, exc)

    def _beat_due(self) -> bool:
        """RQ beats before and after each BLPOP and after each job: on a busy worker, three
        beats within a millisecond. One per `BEAT_SPACING` keeps the worker as alive (/health
        counts beats within three `WORKER_HEARTBEAT_INTERVAL`s) for a round trip less per job."""
        now = time.monotonic()
        if now - self._beaten_at < min(BEAT_SPACING, settings.WORKER_HEARTBEAT_INTERVAL / 5):
            return False
        self._beaten_at = now
        return True

    def _registration_due(self) -> bool:
        """The registry's SADDs (one per queue and one more) go with one beat per half
        `WORKER_HEARTBEAT_INTERVAL` only, which keeps a flushed registry refilled within a beat
        (a beat that finds the worker's hash gone registers at once)."""
        now = time.monotonic()
        if now - self._registered_at < settings.WORKER_HEARTBEAT_INTERVAL / 2:
            return False
        self._registered_at = now
        return True

    def execute_job(self, job, queue):
        """A wake-up token runs in this process without RQ's per-job bookkeeping (`_run_token`);
        an RQ job of the engine's own (a webhook delivery) runs in a horse as RQ runs it."""
        if job.func_name == transport.RUNNER:
            self._run_token(job)
            return
        self.prepare_execution(job)
        self.fork_work_horse(job, queue)
        self.monitor_work_horse(job, queue)
        self.set_state(WorkerStatus.IDLE)

    def _run_token(self, token) -> None:
        """The engine's claim, a horse for the handler alone and the record (`jobs.handoff`),
        under the token's time limit as RQ would run it. A token is a wake-up call: the job's
        row carries the state, the attempt and the outcome, and the reconcile counts only the
        tokens waiting. So RQ's bookkeeping of a run (its execution and registries, the
        token's status and result, some 50 Redis commands in 12 round trips) is left out for
        two writes: the worker busy with the token, then idle with the token deleted."""
        limit = token.timeout or self.queue_class.DEFAULT_TIMEOUT  # as RQ's perform_job
        self._token_taken(token, limit)  # busy from here: a warm shutdown waits for the record
        ran = False
        try:
            handed = handoff.claim(token)
            with self.death_penalty_class(limit, JobTimeoutException, job_id=token.id):
                ended = runner.run_claimed(handed)
            ran = True
            if handed.job is not None:  # RQ's "Job OK", in the engine's words
                logger.info("worker %s: job %s: %s", self.name, handed.job.id, ended)
        except JobTimeoutException:
            logger.error("worker %s: token %s passed its time limit", self.name, token.id)
        except StopRequested:
            raise
        except Exception:  # as RQ fails a job: the worker goes on, the rescue takes the job
            logger.exception("worker %s: token %s failed", self.name, token.id)
        finally:
            self._token_done(token, ran)

    def _token_taken(self, token, limit: int) -> None:
        """The worker's state and current job, as RQ shows a busy worker (dashboards, /metrics).
        The token's hash expires after its time limit should this worker die with it."""
        with self.connection.pipeline() as pipe:
            self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            pipe.hset(self.key, "current_job", token.id)
            pipe.expire(token.key, max(limit, 0) + TOKEN_KEPT_AFTER_LIMIT)
            self._write(pipe, "busy state")

    def _token_done(self, token, ran: bool) -> None:
        """Idle again, the token deleted; RQ's count of the worker's jobs (its dashboard's)."""
        with self.connection.pipeline() as pipe:
            self.set_state(WorkerStatus.IDLE, pipeline=pipe)
            pipe.hdel(self.key, "current_job")
            count = "successful_job_count" if ran else "failed_job_count"
            pipe.hincrby(self.key, count, 1)
            pipe.delete(token.key)
            self._write(pipe, "idle state")

    def _write(self, pipe, what: str) -> None:
        """Run a pipeline that sets the worker's state (`_token_taken`, `_token_done`)."""
        try:
            pipe.execute()
            self._state_written = self._state
        except RedisError as exc:
            self._redis_unreachable(f"{what} not written", exc)

    def _run_handler_in_horse(self, handed: handoff.Handoff) -> None:
        """`jobs.runner.run_handler(handed)` in a horse; returns once the horse ended. Whatever
        interrupts the wait (the token's time limit, a cold shutdown) takes the horse down."""
        try:
            self._horse_pid = self._fork(pickle.dumps(handed))
        except HorseLost as exc:
            logger.warning("worker %s: job %s: %s", self.name, handed.job.id, exc)
            return  # no outcome: the rescue takes the job over
        try:
            self._watch_horse(RowWatch(handed.job.id, handed.job.attempts))
        finally:
            if self._horse_pid:
                self.kill_horse()
                self.wait_for_horse()

    def _watch_horse(self, watch: RowWatch) -> None:
        """Until the horse ends: the job's heartbeat and cancellation from its row, on this
        worker's connection (every `JOB_CANCEL_POLL_INTERVAL`; the horse is signalled while the
        job is no longer ours), and the worker's beat every `job_monitoring_interval`."""
        last_beat = time.monotonic()
        ours = True
        while self.wait_for_horse(settings.JOB_CANCEL_POLL_INTERVAL) is None:
            now = time.monotonic()
            if ours:
                ours = watch.still_ours()
                if not ours:
                    logger.info("job %s is no longer processing here: stopping it", watch.job_id)
            if not ours:  # again at every look: the horse ignores it until its handler runs
                self._signal_horse(runner.CANCEL_SIGNAL)
            if now - last_beat >= self.job_monitoring_interval:
                last_beat = now
                self.heartbeat()

    def _signal_horse(self, signum: int) -> None:
        """The horse alone (RQ's `kill_horse` signals its group, whose ffmpeg would die of
        it before the horse's context stops the job)."""
        try:
            os.kill(self._horse_pid, signum)
        except ProcessLookupError:
            pass  # it just ended

    def fork_work_horse(self, job, queue):
        """RQ's fork, asked of the fork server (`jobs.forkserver`). A horse lost as it was
        forked is seen by RQ as a horse that died."""
        try:
            self._horse_pid = self._fork(pickle.dumps(HorseRequest.of(self, job, queue)))
        except HorseLost as exc:
            logger.warning("worker %s: RQ job %s: %s", self.name, job.id, exc)
            self._horse_pid = 0
            return
        os.environ["RQ_WORKER_ID"] = self.name
        os.environ["RQ_JOB_ID"] = job.id
        self.procline(f"Horse {self._horse_pid} running {job.id}")

    def _fork(self, request: bytes) -> int:
        """A horse's pid: forked by the fork server, another one started if the last one was
        found killed (`HorseLost` when it died with the request)."""
        try:
            return self._fork_server.fork(request)
        except ForkServerGone as exc:
            logger.warning("worker %s: fork server gone (%s); starting another", self.name, exc)
            self._start_fork_server()
            return self._fork_server.fork(request)

    def wait_for_horse(self, timeout: float | None = None):
        """RQ's wait for its horse (os.wait4 of its child): the fork server tells how it ended.
        None when `timeout` seconds passed first (the horse still runs)."""
        if not self._horse_pid:
            return None, None, None
        ended = self._fork_server.wait(self._horse_pid, timeout)
        if ended is not None:
            self._horse_pid = 0
        return ended

    def _run_horse(self, request: bytes) -> None:
        """In a horse forked by the fork server: a claimed job's handler, or an RQ job as RQ's
        horse runs it. The horse is killed by the kernel when its fork server dies, which is
        killed when the worker dies (SIGKILL, the OOM killer, an exit on a Redis error): an
        orphan would keep running its job while the supervisor starts a replacement worker that
        takes another one, more jobs at once than configured. Its job is rescued by the
        engine's heartbeat check."""
        wanted = pickle.loads(request)  # noqa: S301 - written by this worker
        handoff.in_horse()
        random.seed()
        if isinstance(wanted, handoff.Handoff):
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker stops it, as RQ's horse
            runner.run_handler(wanted)
            return
        os.environ["RQ_WORKER_ID"] = self.name
        os.environ["RQ_JOB_ID"] = wanted.job_id
        job = self.job_class(wanted.job_id, connection=self.connection, serializer=self.serializer)
        job.restore(wanted.job_hash)
        queue = next(q for q in self.queues if q.name == wanted.queue)
        execution_id, created_at, last_heartbeat = wanted.execution
        self.execution = Execution(execution_id, job.id, self.connection, self.name)
        self.execution.created_at = datetime.fromtimestamp(created_at, tz=UTC)
        self.execution.last_heartbeat = datetime.fromtimestamp(last_heartbeat, tz=UTC)
        self.main_work_horse(job, queue)
