"""The worker's beat keeps RQ's worker registry (what /health and the dashboards count) filled
after Redis lost it, without writing it at every one of RQ's five beats per job: once per half
heartbeat interval, and at once when the beat finds the worker's own hash gone (a flush)."""

import pytest
from django.conf import settings
from rq import worker_registration

from jobs.queue import get_queue, worker_queue_names
from jobs.worker import BEAT_SPACING, EngineWorker
from tests.chaos.servers import private_redis_for
from tests.conftest import wait_for

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


def _beat_later(worker) -> None:
    """A beat after `BEAT_SPACING` (beats closer together are left out)."""
    worker._beaten_at -= BEAT_SPACING
    worker.heartbeat()


def test_beats_closer_together_than_the_spacing_are_one(worker):
    worker.heartbeat()
    first = worker.connection.hget(worker.key, "last_heartbeat")
    worker.heartbeat()  # RQ's beat before a BLPOP, right after the one at a job's end
    assert worker.connection.hget(worker.key, "last_heartbeat") == first
    _beat_later(worker)
    assert worker.connection.hget(worker.key, "last_heartbeat") > first


def test_the_registry_is_written_once_per_half_interval(worker):
    worker.heartbeat()
    assert _registered(worker)
    _forget_registration(worker)
    _beat_later(worker)
    with worker.connection.pipeline() as pipe:  # RQ's beats inside its own pipelines
        worker.heartbeat(pipeline=pipe)
        pipe.execute()
    assert not _registered(worker)  # within half an interval: beats only
    worker._registered_at -= settings.WORKER_HEARTBEAT_INTERVAL / 2
    _beat_later(worker)
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
    _beat_later(worker)  # within half an interval of the last registration
    assert _registered(worker)
    assert worker.connection.hget(worker.key, "queues").decode() == ",".join(worker.queue_names())


def test_the_steps_between_two_blpops_ride_out_a_redis_outage(settings, caplog):
    """RQ retries only its BLPOP while Redis is gone; its other steps (the command channel and
    state written at start, the suspension check, registry upkeep, the beat, the death notice)
    would end the worker. Each is skipped, and the beat that reaches Redis again (back empty)
    registers the worker and subscribes it to its command channel."""
    with private_redis_for(settings) as server:
        queues = [get_queue(name) for name in worker_queue_names()]
        worker = EngineWorker(queues, connection=queues[0].connection)
        worker.register_birth()
        server.stop()
        worker.subscribe()
        worker.set_state("started")
        worker.check_for_suspension(False)
        worker.run_maintenance_tasks()
        worker.heartbeat()
        worker.teardown()
        skipped = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(skipped) == 6, skipped
        assert worker.pubsub_thread is None
        server.start()
        worker.heartbeat()
        try:
            assert _registered(worker)
            assert worker.pubsub_thread.is_alive()
            channel = worker.pubsub_channel_name
            assert dict(worker.connection.pubsub_numsub(channel)) == {channel.encode(): 1}
        finally:
            worker.teardown()
        subscribers = lambda: dict(worker.connection.pubsub_numsub(channel))[channel.encode()]  # noqa: E731
        wait_for(lambda: subscribers() == 0, message="the channel unsubscribed")
