"""RQ as transport only: putting job ids on the queue and asking whether RQ still holds them.

The RQ job id is the engine's job id, so a second enqueue of the same job is harmless: the claim
in the runner lets only one delivery run.
"""

import logging
from datetime import timedelta

import django_rq
import redis
from django.conf import settings
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.utils import now as rq_now

logger = logging.getLogger(__name__)

RUNNER = "jobs.runner.run_job"
# RQ job states in which the job will still be (or is being) delivered.
_HELD = {RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED}


# Seconds a look at Redis for a person or a probe (/health, the dashboard) may take: a Redis that
# accepts connections but does not answer (stopped, partitioned) would hang it for good.
PROBE_TIMEOUT = 2.0


def get_queue(*, timeout: float | None = None):
    """The engine's queue; `timeout` bounds every Redis call through it (connect and answer)."""
    if timeout is None:
        return django_rq.get_queue(settings.RQ_QUEUE)
    connection = redis.Redis.from_url(
        settings.RQ_QUEUES[settings.RQ_QUEUE]["URL"],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return django_rq.get_queue(settings.RQ_QUEUE, connection=connection)


def get_connection():
    return get_queue().connection


def enqueue(job_id, *, timeout: int, at_front: bool = False) -> bool:
    """Put a job on the queue. Returns False (and logs) when Redis is unreachable: the
    reconciler will enqueue the row later, so a Redis outage never loses a job."""
    try:
        get_queue().enqueue_call(
            RUNNER,
            args=(str(job_id),),
            job_id=str(job_id),
            # RQ's death penalty raises JobTimeoutException in the work horse at the job type's
            # timeout; the runner turns it into a failed job (and kills ffmpeg).
            timeout=timeout,
            result_ttl=0,
            failure_ttl=24 * 3600,
            at_front=at_front,
        )
    except RedisError as exc:
        logger.warning("could not enqueue job %s (%s); the reconciler will retry", job_id, exc)
        return False
    return True


def is_held(job_id) -> bool:
    """True when RQ still holds this job (waiting, scheduled or running)."""
    try:
        rq_job = RQJob.fetch(str(job_id), connection=get_connection())
    except NoSuchJobError:
        return False
    return rq_job.get_status(refresh=False) in _HELD


def queue_depth() -> int:
    return get_queue().count


def live_workers(queue=None) -> list[Worker]:
    """The queue's RQ workers that beat within the last three worker heartbeats. A killed
    worker's registration outlives it until its key expires (minutes): it is not counted."""
    queue = queue or get_queue()
    cutoff = rq_now() - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_INTERVAL)
    return [w for w in Worker.all(queue=queue) if w.last_heartbeat and w.last_heartbeat >= cutoff]
