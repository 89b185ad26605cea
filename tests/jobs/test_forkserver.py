"""The worker's fork server (jobs.forkserver): the worker forks once, its horses are forked by
the server, the worker's database connection lasts across jobs, and a server that dies (idle or
mid-job) takes its horse along and is replaced. Real forking workers in this process, real
Redis, the real database."""

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db.backends.signals import connection_created
from django.utils import timezone

from jobs import forkserver, services
from jobs.forkserver import ForkServer, ForkServerGone, HorseLost
from jobs.models import Job
from jobs.status import JobStatus
from tests.conftest import pid_alive, run_burst_worker, wait_for
from tests.processes import comm, descendants

pytestmark = pytest.mark.django_db(transaction=True)

_forks: list[int] = []
os.register_at_fork(before=lambda: _forks.append(os.getpid()))


@pytest.fixture
def started_servers(monkeypatch):
    """The pid of every fork server started, in order."""
    pids = []
    start = ForkServer.start

    def recording_start(self):
        start(self)
        pids.append(self.pid)

    monkeypatch.setattr(ForkServer, "start", recording_start)
    return pids


def test_the_worker_forks_once_and_keeps_its_database_connection(started_servers):
    jobs = [services.job_create(job_type="noop") for _ in range(4)]
    opened = []
    receiver = lambda sender, connection, **kw: opened.append(connection.alias)  # noqa: E731
    connection_created.connect(receiver)
    _forks.clear()
    try:
        run_burst_worker()
    finally:
        connection_created.disconnect(receiver)
    assert [Job.objects.get(id=j.id).status for j in jobs] == [JobStatus.COMPLETED] * 4
    assert _forks == [os.getpid()], "one fork in the worker: its fork server, not one per job"
    assert opened == ["default"], "one connection for every claim and record of the four jobs"
    assert len(started_servers) == 1
    assert not pid_alive(started_servers[0]), "the fork server ends with its worker"


def test_a_fork_server_killed_while_idle_is_replaced(started_servers, monkeypatch):
    start = ForkServer.start

    def start_then_die_once(self):
        start(self)
        if len(started_servers) == 1:
            os.kill(self.pid, signal.SIGKILL)
            wait_for(lambda: _zombie(self.pid), message="the server dead (not yet reaped)")

    monkeypatch.setattr(ForkServer, "start", start_then_die_once)
    job = services.job_create(job_type="noop")
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert len(started_servers) == 2, "a second server forked the job's horse"


def test_a_fork_server_killed_mid_job_takes_its_horse_along(started_servers):
    victim = services.job_create(job_type="test_kill_fork_server")
    after = services.job_create(job_type="noop")
    began = time.monotonic()
    run_burst_worker()
    assert time.monotonic() - began < 20, "the horse died with its server, not after its sleep"
    victim.refresh_from_db()
    assert Job.objects.get(id=after.id).status == JobStatus.COMPLETED
    assert (victim.status, victim.attempts) == (JobStatus.PROCESSING, 1), (
        "no outcome: left to the heartbeat rescue, as a job whose worker died"
    )
    later = timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1)
    assert services.jobs_rescue_stale(now=later) == {"requeued": 1, "failed": 0}
    assert len(started_servers) == 2


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_server_found_dead_is_replaced_but_one_dying_with_a_request_is_not_asked_again(
    monkeypatch,
):
    """A request sent to a server that dies before it says which horse it forked is never sent
    again: a horse may have started (its job is left to the rescue, never run twice)."""
    server = ForkServer(_exit_with)
    server.start()
    spare = _one_spare(server)
    os.kill(server.pid, signal.SIGKILL)
    wait_for(lambda: _zombie(server.pid), message="the server dead")
    wait_for(lambda: not pid_alive(spare), message="its spare horse dead with it")
    with pytest.raises(ForkServerGone):
        server.fork(b"0")  # found dead before the request was sent: safe to start another
    server.start()
    monkeypatch.setattr(ForkServer, "_alive", lambda self: True)  # it dies right after the look
    os.kill(server.pid, signal.SIGKILL)
    with pytest.raises(HorseLost):
        server.fork(b"0")
    assert not server.running


def _exit_with(request: bytes) -> None:
    sys.exit(int(request))


def test_the_server_reports_how_each_horse_ended_and_ignores_stop_signals():
    server = ForkServer(_exit_with)
    server.start()
    try:
        for code in (0, 3):
            pid = server.fork(str(code).encode())
            ended, status, rusage = server.wait(pid)
            assert (ended, os.waitstatus_to_exitcode(status)) == (pid, code)
            assert rusage.ru_maxrss > 0
        os.kill(server.pid, signal.SIGTERM)  # a signal to the worker's group, a Ctrl-C
        os.kill(server.pid, signal.SIGINT)
        time.sleep(0.3)
        assert pid_alive(server.pid), "a worker's warm shutdown must not kill its running horse"
    finally:
        server.stop()
    assert not pid_alive(server.pid), "the server exits when its worker closes its end"


def test_a_horse_gets_its_own_process_group_and_its_workers_name():
    def report(request: bytes) -> None:
        name = open("/proc/self/comm").read().strip()
        sys.exit(0 if os.getpgrp() == os.getpid() and name == request.decode() else 1)

    server = ForkServer(report)
    server.start()
    try:
        worker_name = comm(os.getpid())
        wait_for(lambda: comm(server.pid) == forkserver.NAME)
        _, status, _ = server.wait(server.fork(worker_name.encode()))
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        server.stop()


def _spares(server: ForkServer) -> list[int]:
    return [pid for pid in descendants(server.pid) if comm(pid) == forkserver.SPARE_NAME]


def _one_spare(server: ForkServer, besides: int = 0) -> int:
    """The server's spare horse, once it has forked it (and it named itself)."""
    spares = wait_for(lambda: [p for p in _spares(server) if p != besides], message="a spare")
    assert len(spares) == 1, spares
    return spares[0]


def test_each_horse_is_forked_ahead_and_waits_for_its_request_as_a_spare():
    server = ForkServer(_exit_with)
    server.start()
    try:
        spare = _one_spare(server)
        assert os.getpgid(spare) == spare, "in its own group before the worker can signal it"
        for code in (0, 3):
            horse = server.fork(str(code).encode())
            assert horse == spare, "the request went to the horse forked ahead"
            spare = _one_spare(server, besides=horse)  # the next one, forked while it runs
            _, status, _ = server.wait(horse)
            assert os.waitstatus_to_exitcode(status) == code
    finally:
        server.stop()
    assert not pid_alive(spare), "an unused spare ends with its server, reaped, no orphan"


def test_a_spare_killed_while_it_waits_is_replaced_and_the_request_runs():
    server = ForkServer(_exit_with)
    server.start()
    try:
        killed = _one_spare(server)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: _zombie(killed), message="the spare dead (not yet reaped)")
        horse = server.fork(b"4")
        assert horse != killed
        _, status, _ = server.wait(horse)
        assert os.waitstatus_to_exitcode(status) == 4
        assert not pid_alive(killed), "reaped by its server"
    finally:
        server.stop()


def test_the_worker_beats_while_its_horse_runs(settings, monkeypatch):
    from jobs.worker import EngineWorker

    settings.WORKER_HEARTBEAT_INTERVAL = 1
    busy_beats = []
    beat = EngineWorker._beat  # a beat sent (not one left out by the spacing)

    def counted(self, *args, **kwargs):
        if self.get_state() == "busy":
            busy_beats.append(time.monotonic())
        return beat(self, *args, **kwargs)

    monkeypatch.setattr(EngineWorker, "_beat", counted)
    job = services.job_create(job_type="test_sleep", params={"seconds": 2.5})
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert len(busy_beats) >= 2, "the worker's key kept alive during the job"


def test_a_token_out_of_time_takes_its_horse_down(started_servers):
    from jobs import queue

    job = services.job_create(job_type="test_sleep", params={"seconds": 20})
    rq_queue = queue.get_queue("light")
    rq_queue.empty()  # the token job_create put, replaced by one with a 1 s limit
    rq_queue.enqueue_call(queue.RUNNER, args=("light",), timeout=1, result_ttl=60)
    began = time.monotonic()
    run_burst_worker()
    assert time.monotonic() - began < 10, "the horse was killed at the token's limit"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.PROCESSING, 1), "left to the rescue"
    assert len(started_servers) == 1


def test_a_cancelled_job_is_stopped_by_the_worker_watching_its_row(worker_process, tmp_path):
    """The worker reads the row while its horse runs the handler and signals the horse once the
    job is no longer its own (jobs.runner.CANCEL_SIGNAL)."""
    job = services.job_create(
        job_type="test_record", params={"record_dir": str(tmp_path), "seconds": 30, "steps": 100}
    )
    worker_process()
    wait_for(lambda: Job.objects.get(id=job.id).progress > 0, message="the job running")
    horse = int(next(tmp_path.iterdir()).read_text().split()[1])
    started = time.monotonic()
    services.job_cancel(job=Job.objects.get(id=job.id))
    wait_for(lambda: not pid_alive(horse), timeout=3, interval=0.05, message="the horse to stop")
    assert time.monotonic() - started < 3
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.progress < 100
