"""Chaos: `manage.py up --workers light=2` (two workers of the queue that runs the test's jobs)
with a worker's parent process SIGKILLed mid-job (its fork server and work horse are not
signalled). The horse must die with its worker: an orphan would keep running its job
while the supervisor starts a replacement worker that takes another one, three jobs at once with
two workers configured. The killed job is rescued by the engine and completes once.

The process tree is sampled all along: at no moment may more work horses run than workers.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import Worker

from jobs import queue, services
from jobs.models import Job
from jobs.status import JobStatus
from tests.chaos.servers import MANAGE_PY, base_env, executions, free_port, private_redis_for
from tests.conftest import kill_tree, pid_alive, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

WORKERS = 2
JOB_SECONDS = 10  # longer than a replacement worker takes to start and take the next job


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of a live process, None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (int(fields[1]), int(fields[3]))


def _ours(pid: int, marker: bytes) -> bool:
    """A worker process of this test: forked by `up` (it names itself ef-worker, its horses
    take the name back from the fork server they are forked from) or started as `rqworker`;
    its environment names the test's private Redis. Not a fork server (jobs.forkserver)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_bytes().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    if name == b"ef-forkserver":
        return False
    return (name == b"ef-worker" or b"rqworker" in cmdline) and marker in environ


def worker_processes(marker: bytes) -> tuple[set[int], set[int]]:
    """(worker parents, work horses) of this test. `up` starts each worker in its own session;
    a horse is forked by it into a process group of its own, in the same session, and stays in
    that session when its parent dies (an orphan is re-parented, but still counted)."""
    parents, horses = set(), set()
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or not _ours(pid, marker):
            continue
        (parents if stat[1] == pid else horses).add(pid)
    return parents, horses


class HorseSampler(threading.Thread):
    """Counts this test's work horses every 20 ms; `most` is the highest count seen."""

    def __init__(self, marker: bytes):
        super().__init__(daemon=True)
        self.marker = marker
        self.most = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.most = max(self.most, len(worker_processes(self.marker)[1]))
            self.samples += 1
            self._done.wait(0.02)

    def stop(self) -> None:
        self._done.set()
        if self.ident is not None:  # started
            self.join(timeout=5)


def _busy_horses(marker: bytes) -> set[int] | None:
    """The horses, once every worker runs one and each has claimed its job."""
    horses = worker_processes(marker)[1]
    claimed = Job.objects.filter(status=JobStatus.PROCESSING).count()
    return horses if len(horses) == WORKERS and claimed == WORKERS else None


def _start_up(env: dict[str, str], log: Path) -> subprocess.Popen:
    argv = [sys.executable, MANAGE_PY, "up", "--port", str(free_port()),
            "--workers", f"light={WORKERS}", "--web-workers", "1"]  # fmt: skip
    with log.open("wb") as fh:
        return subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop_up(up: subprocess.Popen) -> None:
    """Ctrl-C, as an operator would; SIGKILL of the whole tree if it does not stop in time."""
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_tree(up)


def test_a_killed_worker_takes_its_horse_along_and_no_more_jobs_run_than_workers(
    settings, tmp_path
):
    record_dir = tmp_path / "executions"
    record_dir.mkdir()
    with private_redis_for(settings) as server:
        marker = f"REDIS_URL={server.url}\0".encode()
        env = base_env(
            EF_USE_TEST_DB="1",
            REDIS_URL=server.url,
            EF_MAINTENANCE_INTERVAL="0.5",
            EF_ADMIN_PASSWORD="unused-admin-password",
        )
        up = _start_up(env, tmp_path / "up.log")
        sampler = HorseSampler(marker)
        try:
            wait_for(
                lambda: len(Worker.all(queue=queue.get_queue())) == WORKERS,
                timeout=90,
                interval=0.3,
                message="up's workers listening",
            )
            sampler.start()
            jobs = [
                services.job_create(
                    job_type="test_record",
                    params={"record_dir": str(record_dir), "seconds": JOB_SECONDS, "steps": 20},
                )
                for _ in range(WORKERS + 1)
            ]
            horses = wait_for(
                lambda: _busy_horses(marker),
                timeout=30,
                interval=0.05,
                message="both workers running a job",
            )
            horse = min(horses)
            parent = _stat(_stat(horse)[0])[0]  # the horse's fork server's parent: its worker
            # An attempt names the worker that claimed it: the horse's parent.
            victim = Job.objects.get(status=JobStatus.PROCESSING, worker__endswith=f":{parent}")

            os.kill(parent, signal.SIGKILL)  # the worker only, not its fork server or horse
            killed = time.monotonic()
            while pid_alive(horse) and time.monotonic() - killed < 5:
                time.sleep(0.01)
            horse_lived = time.monotonic() - killed

            wait_for(
                lambda: Job.objects.filter(status=JobStatus.COMPLETED).count() == len(jobs),
                timeout=120,
                interval=0.2,
                message="every job completed",
            )
        finally:
            try:
                _stop_up(up)
            finally:
                sampler.stop()
                for pid in set().union(*worker_processes(marker)):  # an orphan, on failure
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    print(
        f"horse outlived its killed worker by {horse_lived:.2f} s; at most {sampler.most} "
        f"horses at once over {sampler.samples} samples ({WORKERS} workers)"
    )
    assert horse_lived < 1.0, f"the horse ran on {horse_lived:.1f} s after its worker died"
    assert sampler.most <= WORKERS, f"{sampler.most} jobs ran at once with {WORKERS} workers"
    runs = executions(record_dir)
    victim.refresh_from_db()
    assert (victim.status, victim.attempts, victim.result) == (
        JobStatus.COMPLETED,
        2,
        {"attempt": 2},
    ), "the killed attempt is rescued, the next one completes"
    assert runs == {str(j.id): 2 if j.id == victim.id else 1 for j in jobs}
