"""The worker's beat keeps RQ's worker registry (what /health and the dashboards count) filled
after Redis lost it, without writing it at every one of RQ's five beats per job: once per half
heartbeat interval, and at once when the beat finds the worker's own hash gone (a flush)."""

import pytest
from django.conf import settings
from rq import worker_registration

from jobs.queue import get_queue, worker_queue_names
from jobs.worker import EngineWorker

pytestmark = pytest.mark.django_db(transaction=True)  # the worker warms the engine up


@pytest.fixture
def worker():
    queues = [get_queue(name) for name in worker_queue_names()]
    worker = EngineWorker(queues, connection=queues[0].connection)
    worker.register_birth()
    yield worker
    worker.register_death()
    worker.connection.delete(worker.key)


def _registered(worker) -> bool:
    keys = [worker.redis_workers_keys, *(f"rq:workers:{q}" for q in worker.queue_names())]
    return all(worker.connection.sismember(key, worker.key) for key in keys)


def _forget_registration(worker) -> None:
    worker_registration.unregister(worker)
    assert not _registered(worker)


def test_the_registry_is_written_once_per_half_interval(worker):
    worker.heartbeat()
    assert _registered(worker)
    _forget_registration(worker)
    worker.heartbeat()
    with worker.connection.pipeline() as pipe:  # RQ's beats inside its own pipelines
        worker.heartbeat(pipeline=pipe)
        pipe.execute()
    assert not _registered(worker)  # within half an interval: beats only
    worker._registered_at -= settings.WORKER_HEARTBEAT_INTERVAL / 2
    worker.heartbeat()
    assert _registered(worker)
    _forget_registration(worker)
    worker._registered_at -= settings.WORKER_HEARTBEAT_INTERVAL / 2
    with worker.connection.pipeline() as pipe:
        worker.heartbeat(pipeline=pipe)
        pipe.execute()
    assert _registered(worker)


def test_a_beat_finding_its_hash_gone_registers_at_once(worker):
    worker.heartbeat()
    worker.connection.delete(worker.key)  # what a FLUSHALL leaves: nothing of the worker
    _forget_registration(worker)
    worker.heartbeat()  # within half an interval of the last registration
    assert _registered(worker)
    assert worker.connection.hget(worker.key, "queues").decode() == ",".join(worker.queue_names())
