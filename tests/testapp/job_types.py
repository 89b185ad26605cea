"""Job types used only by the engine tests and the engine benchmark."""

import os
import signal
import time
import uuid
from pathlib import Path

import pydantic

from jobs.errors import PermanentJobError, TransientJobError
from jobs.queues import RENDERS
from jobs.registry import register
from media_pipeline.ops.ffmpeg_run import run_ffmpeg


class NoParams(pydantic.BaseModel):
    pass


@register("noop", params_schema=NoParams, timeout=30)
def noop(ctx, params):
    return {"ok": True}


class SleepParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    seconds: float = pydantic.Field(ge=0, le=600)
    steps: int = pydantic.Field(default=10, ge=1, le=1000)
    write_file: bool = False


@register("test_sleep", params_schema=SleepParams, max_attempts=2, timeout=60)
def sleep_job(ctx, params: SleepParams):
    """Sleeps in steps, reporting progress; optionally writes a temp and an output file first."""
    if params.write_file:
        out = Path(ctx.temp_dir) / "partial.txt"
        out.write_text(f"pid {os.getpid()}")
        ctx.add_file(out, role="output", label="partial")
    for step in range(params.steps):
        time.sleep(params.seconds / params.steps)
        ctx.progress(100 * (step + 1) / params.steps, "sleep", f"step {step + 1}/{params.steps}")
    return {"slept": params.seconds, "pid": os.getpid()}


@register("test_render_sleep", params_schema=SleepParams, max_attempts=2, timeout=60, queue=RENDERS)
def render_sleep_job(ctx, params: SleepParams):
    """test_sleep in the renders queue."""
    return sleep_job(ctx, params)


class RecordParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    record_dir: str
    seconds: float = pydantic.Field(default=0, ge=0, le=60)
    steps: int = pydantic.Field(default=1, ge=1, le=100)


@register("test_record", params_schema=RecordParams, max_attempts=3, timeout=60)
def record_execution(ctx, params: RecordParams):
    """Leaves one file per execution in `record_dir` before doing anything else (then sleeps in
    steps, reporting progress), so a chaos test counts how many times each job really ran without
    trusting the database it is breaking. Retries are allowed: a second run must show up."""
    name = f"{ctx.job_id}.{ctx.attempt}.{uuid.uuid4().hex}"
    fd = os.open(Path(params.record_dir) / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, f"pid {os.getpid()}".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    for step in range(params.steps):
        time.sleep(params.seconds / params.steps)
        ctx.progress(100 * (step + 1) / params.steps, "record", f"step {step + 1}/{params.steps}")
    return {"attempt": ctx.attempt}


@register("test_hang", params_schema=NoParams, max_attempts=3, timeout=2)
def hang(ctx, params):
    """Never finishes on its own: the engine must stop it at its 2 s timeout."""
    time.sleep(60)
    return {}


@register("test_crash", params_schema=NoParams, max_attempts=2, timeout=30)
def crash(ctx, params):
    """Dies as a segfault or the OOM killer would end it: its process SIGKILLed (run it only
    in a work horse)."""
    os.kill(os.getpid(), signal.SIGKILL)


class FlakyParams(pydantic.BaseModel):
    fail_times: int = 1
    permanent: bool = False


@register("test_flaky", params_schema=FlakyParams, max_attempts=3, timeout=30)
def flaky(ctx, params: FlakyParams):
    if params.permanent:
        raise PermanentJobError("the input is bad: no retry")
    if ctx.attempt <= params.fail_times:
        raise TransientJobError(f"passing failure on attempt {ctx.attempt}")
    return {"succeeded_on_attempt": ctx.attempt}


class FfmpegParams(pydantic.BaseModel):
    seconds: float = 120.0


@register("test_ffmpeg", params_schema=FfmpegParams, max_attempts=1, timeout=300)
def long_ffmpeg(ctx, params: FfmpegParams):
    """A slow real encode, to cancel mid-run. Writes its pid so the test can check it died."""
    out = Path(ctx.temp_dir) / "out.mp4"
    report = ctx.stage(0, 100, "encode", "Encoding")
    args = ["-re", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={params.seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", str(out)]  # fmt: skip
    run_ffmpeg(args, duration=params.seconds, on_progress=report, tracker=_PidRecorder(ctx))
    return {"output": str(out)}


@register("test_ffmpeg_input", params_schema=NoParams, max_attempts=2, timeout=3)
def ffmpeg_on_input(ctx, params):
    """Decodes its 'source' input with ffmpeg. A stalled input (a FIFO nobody writes to) hangs
    ffmpeg: the engine must stop the job at its 3 s timeout."""
    source = ctx.input_path("source")
    run_ffmpeg(["-i", str(source), "-f", "null", "-"], tracker=ctx)
    return {}


class _PidRecorder:
    """Wraps the context's tracker to note the ffmpeg pid in the temp dir for the test."""

    def __init__(self, ctx):
        self.ctx = ctx

    def track_process(self, process):
        (Path(self.ctx.temp_dir).parent / f"{self.ctx.job_id}.ffmpeg.pid").write_text(
            str(process.pid)
        )
        self.ctx.track_process(process)

    def untrack_process(self, process):
        self.ctx.untrack_process(process)


class PaidParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    estimate: str = "0.10"  # USD, what the budget reserves
    spend: str = "0"  # USD the handler records as a cost
    seconds: float = pydantic.Field(default=0, ge=0, le=60)


def _paid_estimate(params: PaidParams):
    from decimal import Decimal

    return Decimal(params.estimate)


@register("test_paid", params_schema=PaidParams, timeout=60, estimate_cost=_paid_estimate)
def paid(ctx, params: PaidParams):
    """A job with a paid-API estimate (budgets reserve it) that records a cost when it runs."""
    if float(params.spend):
        ctx.record_cost(
            service="testapi", operation="call", units=1, unit_name="calls", cost_usd=params.spend
        )
    time.sleep(params.seconds)
    return {"spent": params.spend}


class AttemptProgressParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    fail_at: float = pydantic.Field(default=60.0, ge=0, le=100)


@register("test_attempt_progress", params_schema=AttemptProgressParams, max_attempts=2, timeout=30)
def attempt_progress(ctx, params: AttemptProgressParams):
    """Attempt 1 gets to `fail_at` percent, then fails with a passing error; a later attempt
    reports 5 % and returns what the row says then (percent, ETA), so a test sees whether the
    attempt's progress restarted from zero."""
    from jobs.models import Job

    if ctx.attempt == 1:
        ctx.progress(params.fail_at, "work", "Working")
        raise TransientJobError(f"passing failure at {params.fail_at} %")
    ctx.progress(5, "work", "Working again")
    row = Job.objects.get(id=ctx.job_id)
    return {"attempt": ctx.attempt, "progress": row.progress, "stage": row.stage}


class StoreStreamParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    first_name: str  # storage names outside the job's folder, as the library's outputs are
    stream_name: str
    fifo: str


@register("test_store_stream", params_schema=StoreStreamParams, max_attempts=2, timeout=120)
def store_stream(ctx, params: StoreStreamParams):
    """Stores a small output, then one read from the named pipe `fifo`: the test decides when
    (or whether) that write ends (tests/storage/test_s3_cleanup.py kills the host in its middle)."""
    first = Path(ctx.temp_dir) / "first.txt"
    first.write_text(f"attempt {ctx.attempt}")
    ctx.add_file(first, label="first", name=params.first_name)
    ctx.add_file(Path(params.fifo), label="stream", name=params.stream_name)
    return {"attempt": ctx.attempt}


@register("test_kill_fork_server", params_schema=NoParams, max_attempts=2, timeout=60)
def kill_fork_server(ctx, params):
    """SIGKILLs the process its work horse was forked from (the worker's fork server, as the OOM
    killer might), then waits: the horse must die with it, long before the 30 s are up."""
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(30)
    return {}
