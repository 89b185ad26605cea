"""Peak memory of a real worker rendering a long 1080p source: render_clip through
`manage.py rqworker` (the EngineWorker), RSS of the worker, its work horse and ffmpeg sampled
from /proc.

    uv run python bench/memory.py [--minutes 10] [--preset tiktok] [--x264-preset ultrafast]
                                  [--threads N] [--lookahead N] [--interval 0.2] [--limit-mb 400]

The source (1920x1080 30 fps testsrc2 with a tone, x264 ultrafast at a low bitrate) is made once
per length and kept in $EF_BENCH_CACHE (default ~/.cache/editfactory-bench). The whole source is
rendered in the preset (default tiktok: 1080x1920, libx264 medium, CRF 20) with subtitles.
`--x264-preset` changes only the encoder speed of that preset in the worker (bench/_preset_worker.py)
to shorten a run; x264's memory depends on it (lookahead and reference frames), so the default
case is the one that counts.

Printed: peak RSS of each role (worker parent, work horse, ffmpeg: the kernel's high-water mark,
VmHWM), the peak of their summed PSS (shared pages counted once) for the Python processes and for
the whole tree, and pass/fail against --limit-mb. SQLite and the embedded Redis in a temporary
data dir by default (DATABASE_URL/REDIS_URL to change).
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    cache_dir,
    embedded_redis,
    setup_django,
    start_workers,
    stop,
    worker_argv,
)
from jobs.forkserver import NAME as FORK_SERVER  # noqa: E402
from jobs.forkserver import SPARE_NAME  # noqa: E402

SRT = "".join(
    f"{n}\n00:{n // 2:02d}:{(n % 2) * 30:02d},000 --> 00:{n // 2:02d}:{(n % 2) * 30 + 4:02d},000\n"
    f"Caption number {n}\n\n"
    for n in range(1, 20)
)
MB = 1024 * 1024


def make_source(minutes: float) -> Path:
    """1920x1080 30 fps with audio, made once per length (atomic rename: a killed run leaves none)."""
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    seconds = round(minutes * 60, 3)
    path = cache_dir() / f"testsrc2-1080p30-{seconds:g}s.mp4"
    if path.exists():
        print(f"source: {path} (cached)", flush=True)
        return path
    partial = path.with_suffix(".partial.mp4")
    t0 = time.perf_counter()
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "64k", "-shortest", str(partial)]
    )  # fmt: skip
    partial.rename(path)
    print(f"source: made {path} ({path.stat().st_size / MB:.0f} MB) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    return path


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    children, tree, todo = _proc_children(), [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def read_memory(pid: int) -> tuple[int, int, int] | None:
    """(RSS, peak RSS, PSS) in bytes, or None if the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    pss = next(line for line in rollup.splitlines() if line.startswith("Pss:"))
    kb = lambda text: int(text.split()[0]) * 1024  # noqa: E731
    return kb(fields["VmRSS"]), kb(fields["VmHWM"]), kb(pss.split(":", 1)[1])


def role(pid: int, worker_pid: int) -> str:
    if pid == worker_pid:
        return "worker"
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "gone"
    if name == FORK_SERVER:
        return "fork server"
    if name == SPARE_NAME:
        return "spare horse"
    return "ffmpeg" if "ffmpeg" in Path(exe).name else "horse"


@dataclass
class MemoryPeaks:
    rss: dict = field(default_factory=dict)  # role -> peak VmHWM of any one process
    python_pss: int = 0  # peak of worker + fork server + spare + horse PSS at one instant
    tree_pss: int = 0  # peak of the whole tree's PSS at one instant
    job_rss: int = 0  # peak of work horse + ffmpeg RSS at one instant
    samples: int = 0
    ffmpeg_pids: set = field(default_factory=set)
    timeline: list = field(default_factory=list)  # (seconds, tree PSS) of every sample

    def sample(self, worker_pid: int, elapsed: float) -> None:
        python = tree = job = 0
        for pid in process_tree(worker_pid):
            kind, memory = role(pid, worker_pid), read_memory(pid)
            if memory is None or kind == "gone":
                continue
            rss, hwm, pss = memory
            self.rss[kind] = max(self.rss.get(kind, 0), hwm)
            tree += pss
            job += rss if kind in ("horse", "ffmpeg") else 0
            if kind == "ffmpeg":
                self.ffmpeg_pids.add(pid)
            else:
                python += pss
        self.python_pss, self.tree_pss = max(self.python_pss, python), max(self.tree_pss, tree)
        self.job_rss = max(self.job_rss, job)
        self.timeline.append((elapsed, tree))
        self.samples += 1

    def plateau(self) -> str:
        """The tree's peak PSS within each tenth of the run: memory reached early and held
        (a plateau) or still growing."""
        if not self.timeline:
            return "no samples"
        end = self.timeline[-1][0] or 1.0
        tenths = [0] * 10
        for seconds, tree in self.timeline:
            k = min(9, int(10 * seconds / end))
            tenths[k] = max(tenths[k], tree)
        return " ".join(f"{t / MB:.0f}" for t in tenths)


def create_job(source: Path, preset: str):
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from jobs import services

    user, _ = get_user_model().objects.get_or_create(username="bench-memory")
    with source.open("rb") as fh:
        return services.job_create(
            job_type="render_clip",
            owner=user,
            params={"preset": preset, "srt": SRT},
            inputs={"source": File(fh, name="source.mp4")},
        )


def watch(job, worker_pid: int, interval: float, timeout: float) -> MemoryPeaks:
    """Sample the worker's tree every `interval` s until the job ends."""
    from jobs.models import Job

    peaks, start, next_check = MemoryPeaks(), time.monotonic(), 0.0
    deadline = start + timeout
    while time.monotonic() < deadline:
        peaks.sample(worker_pid, time.monotonic() - start)
        if time.monotonic() >= next_check:
            job = Job.objects.get(pk=job.pk)
            if job.is_terminal:
                return peaks
            next_check = time.monotonic() + 1
        time.sleep(interval)
    raise SystemExit(f"memory: job {job.pk} still {job.status} after {timeout:.0f} s")


def verdict(value: int, limit_mb: int) -> str:
    return (
        f"{value / MB:.0f} MB: {'pass' if value <= limit_mb * MB else 'FAIL'} (limit {limit_mb} MB)"
    )


def report(job, peaks: MemoryPeaks, elapsed: float, args) -> None:
    result = job.result or {}
    frames = (result.get("duration") or 0) * 30
    print(f"job {job.status}{': ' + job.error if job.error else ''}; render_clip {args.preset} "
          f"of {args.minutes:g} min in {elapsed:.0f} s ({frames / elapsed:.1f} frames/s); output "
          f"{result.get('width')}x{result.get('height')} {result.get('duration')} s, "
          f"{(result.get('size_bytes') or 0) / MB:.0f} MB")  # fmt: skip
    rss = {k: f"{v / MB:.0f} MB" for k, v in sorted(peaks.rss.items())}
    print(f"peak RSS per process (VmHWM), {peaks.samples} samples every {args.interval} s, "
          f"{len(peaks.ffmpeg_pids)} ffmpeg runs: {rss}")  # fmt: skip
    print(f"Python processes (worker, its fork server, spare and work horse), peak summed PSS: "
          f"{verdict(peaks.python_pss, args.limit_mb)}; work horse alone peak RSS "
          f"{verdict(peaks.rss.get('horse', 0), args.limit_mb)}")  # fmt: skip
    print(f"ffmpeg peak RSS: {verdict(peaks.rss.get('ffmpeg', 0), args.limit_mb)}; whole worker "
          f"tree incl. ffmpeg, peak summed PSS: {verdict(peaks.tree_pss, args.limit_mb)}")  # fmt: skip
    print(f"work horse + ffmpeg, peak summed RSS: {verdict(peaks.job_rss, args.limit_mb)}")
    print(f"whole tree's peak PSS (MB) in each tenth of the run: {peaks.plateau()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the 1080p source")
    parser.add_argument(
        "--preset", default="tiktok", help="export preset (media_pipeline.ops.presets)"
    )
    parser.add_argument("--x264-preset", help="override the preset's x264 speed in the worker")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--limit-mb", type=int, default=400)
    parser.add_argument(
        "--threads", type=int, help="EF_ENCODER_THREADS of the worker (default: the product's)"
    )
    parser.add_argument("--lookahead", type=int, help="EF_ENCODER_LOOKAHEAD of the worker")
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    args = parser.parse_args()
    for name, value in (
        ("EF_ENCODER_THREADS", args.threads),
        ("EF_ENCODER_LOOKAHEAD", args.lookahead),
    ):
        if value is not None:
            os.environ[name] = str(value)  # the worker's environment is this one's
    setup_django("editfactory.settings")  # production timings; the data dir is a temporary one
    from django.conf import settings
    from django.core.management import call_command

    source = make_source(args.minutes)
    argv = worker_argv()
    if args.x264_preset:
        argv = [sys.executable, "-m", "bench._preset_worker", args.preset, args.x264_preset,
                *argv[2:]]  # fmt: skip
    with embedded_redis():
        call_command("migrate", verbosity=0)
        [worker] = start_workers(1, argv)
        try:
            idle = read_memory(worker.pid)
            print(f"worker {' '.join(argv[1:3])} pid {worker.pid}, idle RSS "
                  f"{idle[0] / MB:.0f} MB; x264 preset: {args.x264_preset or 'as in the preset'}; "
                  f"EF_ENCODER_THREADS={settings.ENCODER_THREADS}, EF_ENCODER_LOOKAHEAD="
                  f"{settings.ENCODER_LOOKAHEAD}; load average {os.getloadavg()[0]:.1f}",
                  flush=True)  # fmt: skip
            job = create_job(source, args.preset)
            t0 = time.perf_counter()
            peaks = watch(job, worker.pid, args.interval, args.timeout)
            elapsed = time.perf_counter() - t0
        finally:
            stop([worker])
    job.refresh_from_db()
    report(job, peaks, elapsed, args)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
