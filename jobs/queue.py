"""RQ as transport only: wake-up tokens on one RQ queue per queue family (jobs.queues).

A token names a queue, not a job: the worker that takes it asks the database for the next job
of that queue (`jobs.runner.run_next`, which claims by priority and fair turn under the queue's
pause and limits). A token with nothing to claim does nothing, so a token too many is harmless,
and a token lost (Redis flushed) is put back by the reconciler, which keeps each queue with as
many tokens as it has due jobs (up to its number of workers). The engine's own RQ queue
(`settings.RQ_QUEUE`) carries webhook deliveries; every worker listens to it after its families.
"""

import logging
from datetime import timedelta

import django_rq
import redis
from django.conf import settings
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.utils import now as rq_now

from jobs.queues import QUEUES
from jobs.registry import queue_timeout

logger = logging.getLogger(__name__)

RUNNER = "jobs.runner.run_next"
# Seconds a token run by a plain RQ worker stays in RQ once finished (its dashboard's finished
# jobs; the engine's own worker deletes a token as its run ends). Not 0: RQ deletes a job
# whose result it must not keep with nine more Redis round trips in every work horse (status
# reads, registry scans) than it spends keeping one; the key expires by itself.
TOKEN_RESULT_TTL = 60
# RQ job states in which the job will still be (or is being) delivered.
_HELD = {RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED}


# Seconds a look at Redis for a person or a probe (/health, the dashboard) may take: a Redis that
# accepts connections but does not answer (stopped, partitioned) would hang it for good.
PROBE_TIMEOUT = 2.0


def get_queue(name: str | None = None, *, timeout: float | None = None):
    """An RQ queue: a family's (`name` from jobs.queues) or the engine's own (webhooks) when
    `name` is None. Every queue uses the engine queue's Redis; `timeout` bounds every Redis
    call through it (connect and answer)."""
    if timeout is None:
        engine = django_rq.get_queue(settings.RQ_QUEUE)
    else:
        connection = redis.Redis.from_url(
            settings.RQ_QUEUES[settings.RQ_QUEUE]["URL"],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        engine = django_rq.get_queue(settings.RQ_QUEUE, connection=connection)
    if name is None or name == settings.RQ_QUEUE:
        return engine
    return Queue(name, connection=engine.connection, default_timeout=3600)


def get_connection():
    return get_queue().connection


def worker_queue_names(families=QUEUES) -> list[str]:
    """The RQ queues a worker serving `families` listens to, in order: its families, then the
    engine's own queue (webhook deliveries)."""
    return [*families, settings.RQ_QUEUE]


def wake(queue: str, count: int = 1) -> bool:
    """Put `count` wake-up tokens on a family's queue. Returns False (and logs) when Redis is
    unreachable: the reconciler tops the queue up later, so a Redis outage never loses a job."""
    if count <= 0:
        return True
    try:
        rq_queue = get_queue(queue)
        # RQ's death penalty bounds the work horse at the longest timeout of the queue's types;
        # the runner arms the claimed job's own timeout inside it.
        timeout = queue_timeout(queue) + 30
        with rq_queue.connection.pipeline() as pipe:
            for _ in range(count):
                rq_queue.enqueue_call(
                    RUNNER,
                    args=(queue,),
                    timeout=timeout,
                    result_ttl=TOKEN_RESULT_TTL,
                    failure_ttl=24 * 3600,
                    pipeline=pipe,
                )
            pipe.execute()
    except RedisError as exc:
        logger.warning("could not wake queue %s (%s); the reconciler will retry", queue, exc)
        return False
    return True


def waiting(queue: str) -> int:
    """Tokens waiting on a family's queue."""
    return get_queue(queue).count


def is_held(job_id) -> bool:
    """True when RQ still holds this RQ job (waiting, scheduled or running)."""
    try:
        rq_job = RQJob.fetch(str(job_id), connection=get_connection())
    except NoSuchJobError:
        return False
    return rq_job.get_status(refresh=False) in _HELD


def queue_depth(connection=None) -> int:
    """Tokens waiting on every family's queue (through `connection`, say a timeout-bound one)."""
    connection = connection or get_connection()
    return sum(Queue(name, connection=connection).count for name in QUEUES)


def live_workers(queue=None) -> list[Worker]:
    """The queue's RQ workers (default: the engine's queue, which every worker listens to) that
    beat within the last three worker heartbeats. A killed worker's registration outlives it
    until its key expires (minutes): it is not counted."""
    queue = queue or get_queue()
    cutoff = rq_now() - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_INTERVAL)
    return [w for w in Worker.all(queue=queue) if w.last_heartbeat and w.last_heartbeat >= cutoff]
