"""Chaos: work horses SIGKILLed in the middle of real renders, ten times across ten jobs.

Kills look like real crashes: the work horse alone (the OOM killer's choice; the RQ worker lives
on and takes the next job) or the worker and its horse together (the service crashed). ffmpeg
itself is never signalled by the test: it must die with its parent, or it would keep rendering
as an orphan. The engine then rescues each job (requeue, or "worker lost" when no attempt is
left), and every job ends cleanly: one output per label, nothing of the killed attempts left.
"""

import contextlib
import os
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs import forkserver, services
from jobs.models import Job, JobFile
from jobs.status import TERMINAL, JobStatus
from tests.conftest import pid_alive, wait_for
from tests.processes import comm

pytestmark = pytest.mark.django_db(transaction=True)

KILLS = 10
ONE_ATTEMPT_JOBS = 2  # killed once with no attempt left: they must fail "worker lost"
# Which kills take the worker down with its horse (it is then restarted, which is slow: the
# others kill only the horse, and the surviving worker takes the next job).
WHOLE_WORKER_KILLS = {1, 5, 8}
RENDER_STAGE_START = 32  # render_clip's percent when its ffmpeg render starts


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode("utf-8", "replace").split("\0")


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def ffmpeg_pids_of(job_id) -> list[int]:
    """Live ffmpeg processes working on this job (its input or temp dir is in their argv),
    wherever they are in the process tree: an orphan is re-parented away from the worker."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        argv = _cmdline(int(proc.name))
        if argv and Path(argv[0]).name.startswith("ffmpeg") and str(job_id) in " ".join(argv):
            if pid_alive(int(proc.name)):
                found.append(int(proc.name))
    return found


def _create_render_jobs(user, source: Path) -> list[Job]:
    jobs = []
    for n in range(KILLS):
        with source.open("rb") as fh:
            jobs.append(
                services.job_create(
                    job_type="render_clip",
                    params={"preset": "square"},
                    owner=user,
                    inputs={"source": File(fh, name="source.mp4")},
                    max_attempts=1 if n < ONE_ATTEMPT_JOBS else None,
                )
            )
    return jobs


def _rescue(pending: dict) -> None:
    """The maintenance pass, limited to the killed attempts (`pending`: job id -> attempt) that
    are still processing: a live attempt is never rescued for a heartbeat slowed by load, which
    would make the attempt counts below flaky."""
    processing = dict(
        Job.objects.filter(id__in=list(pending), status=JobStatus.PROCESSING).values_list(
            "id", "attempts"
        )
    )
    lost = [job_id for job_id, attempt in pending.items() if processing.get(job_id) == attempt]
    for job_id in set(pending) - set(lost):
        del pending[job_id]  # rescued (or not ours to rescue any more)
    if lost:
        services.jobs_rescue_stale(job_ids=lost)


def _mid_render_job(killed: dict, pending: dict):
    """A job not killed yet whose ffmpeg render is running and reporting progress."""
    _rescue(pending)
    rendering = Job.objects.filter(
        status=JobStatus.PROCESSING, stage="render", progress__gt=RENDER_STAGE_START
    ).exclude(id__in=list(killed))
    for job in rendering:
        pids = ffmpeg_pids_of(job.id)
        if pids:
            return job, pids[0]
    return None


def _crash(worker, ffmpeg_pid: int, *, whole_worker: bool) -> None:
    """SIGKILL the work horse (ffmpeg's parent), and the worker too when `whole_worker` (the
    horse then dies with it, and may be gone before its own kill)."""
    horse = _parent_pid(ffmpeg_pid)
    fork_server = _parent_pid(horse)  # the horse's parent: its worker's fork server
    assert comm(fork_server) == forkserver.NAME
    assert _parent_pid(fork_server) == worker.process.pid, "ffmpeg should run under the horse"
    if whole_worker:
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.kill(horse, signal.SIGKILL)


@pytest.mark.timeout(900)  # bounds on hangs only: a restarted worker boots slowly under load
def test_ten_work_horse_kills_mid_render_leave_clean_jobs(worker_process, user, media, settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 1.0  # the rescue runs here; workers beat every 0.5 s
    # Long enough that a render is still running well after its first progress report.
    jobs = _create_render_jobs(user, media.video(seconds=3, size="160x120", fps=10))
    worker = worker_process()
    killed: dict = {}  # job id -> the ffmpeg pid that was rendering it
    pending: dict = {}  # job id -> its killed attempt, until rescued
    for n in range(KILLS):
        job, ffmpeg_pid = wait_for(
            lambda: _mid_render_job(killed, pending),
            timeout=120,
            interval=0.05,
            message=f"a render to kill (kill {n + 1})",
        )
        _crash(worker, ffmpeg_pid, whole_worker=n in WHOLE_WORKER_KILLS)
        killed[job.id] = ffmpeg_pid
        pending[job.id] = job.attempts
        # ffmpeg dies with its work horse at once (an orphan would render for seconds more).
        wait_for(
            lambda pid=ffmpeg_pid: not pid_alive(pid),
            timeout=0.5,
            interval=0.02,
            message=f"the killed job's ffmpeg {ffmpeg_pid} to die with its work horse",
        )
        if worker.process.poll() is not None:
            worker = worker_process()  # the crashed service is restarted

    def all_finished():
        _rescue(pending)
        return not Job.objects.exclude(status__in=TERMINAL).exists()

    wait_for(all_finished, timeout=180, interval=0.2, message="every job to finish")

    assert set(killed) == {j.id for j in jobs}, "each job was killed once, mid-render"
    for job in jobs:
        _assert_ended_cleanly(Job.objects.get(id=job.id))
    assert not [p for j in jobs for p in ffmpeg_pids_of(j.id)], "orphaned ffmpeg processes"
    outcomes = Counter(
        Job.objects.filter(id__in=[j.id for j in jobs]).values_list("status", flat=True)
    )
    assert outcomes == {
        JobStatus.COMPLETED: KILLS - ONE_ATTEMPT_JOBS,
        JobStatus.FAILED: ONE_ATTEMPT_JOBS,
    }


def _assert_ended_cleanly(job: Job) -> None:
    outputs = JobFile.objects.filter(job=job).exclude(role__in=JobFile.INPUT_ROLES)
    assert job.status in (JobStatus.COMPLETED, JobStatus.FAILED), job.status
    if job.status == JobStatus.FAILED:
        assert job.error.startswith("worker lost"), job.error
        assert job.attempts == job.max_attempts == 1
        assert not outputs.exists()
    else:
        assert job.attempts == job.max_attempts == 2, "one killed attempt, then success"
        labels = Counter(outputs.values_list("label", flat=True))
        assert labels == {"video": 1, "thumbnail": 1}, labels
        # Only the successful attempt registered files: none from before its claim.
        assert not outputs.filter(created_at__lt=job.started_at).exists()
    # Stored outputs are exactly the registered ones (nothing half-written by a killed attempt).
    assert _stored_outputs(job) == sorted(outputs.values_list("name", flat=True))
    leftovers = list((settings.JOB_TEMP_DIR / "jobs").glob(f"{job.id}-*"))
    assert not leftovers, f"temp dirs of killed attempts remain: {leftovers}"


def _stored_outputs(job: Job) -> list[str]:
    folder = f"jobs/{job.id}/output"
    if not default_storage.exists(folder):
        return []
    return sorted(f"{folder}/{name}" for name in default_storage.listdir(folder)[1])


def test_a_save_cut_short_by_a_kill_is_deleted_when_the_job_is_rescued(settings):
    """A horse killed while writing an output leaves a file that no row names; the rescue
    deletes it with the registered outputs, and keeps the inputs."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 5)
    job = Job.objects.create(
        job_type="render_clip", status=JobStatus.PROCESSING, attempts=1, heartbeat_at=stale
    )
    names = {
        role: default_storage.save(f"jobs/{job.id}/{role}/{role}.mp4", ContentFile(b"x" * 100))
        for role in ("input", "output", "temp")
    }
    JobFile.objects.create(job=job, name=names["input"], role=JobFile.Role.INPUT, label="source")
    registered = default_storage.save(f"jobs/{job.id}/output/thumb.jpg", ContentFile(b"jpg"))
    JobFile.objects.create(job=job, name=registered, role=JobFile.Role.OUTPUT, label="thumbnail")

    assert services.jobs_rescue_stale(job_ids=[job.id]) == {"requeued": 1, "failed": 0}
    assert default_storage.exists(names["input"])
    gone = [names["output"], names["temp"], registered]
    assert not [name for name in gone if default_storage.exists(name)]
    assert list(JobFile.objects.filter(job=job).values_list("role", flat=True)) == ["input"]
