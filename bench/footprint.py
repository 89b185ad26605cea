"""Idle footprint of `manage.py up` with its defaults (2 web processes, 2 workers, the maintenance
loop, embedded Redis, SQLite), and how long its first jobs take, side by side with a baseline
checkout in the same run.

    uv run python bench/footprint.py [--baseline-ref main] [--rounds 1] [--settle 8]
                                     [--limit-mb 350] [--no-baseline]

For each round, the baseline (a detached `git worktree` of `--baseline-ref`, run with this
checkout's Python environment) and this checkout each start `up` in a fresh data dir, with the
offline TTS provider as the tests use (EF_TTS_DEFAULT_PROVIDER=offline), one after the other.
Once the API answers and both workers are live (/api/v1/health), after `--settle` seconds and
once the whole tree is idle (under 5 % of a core over 2 s), the PSS and RSS of every process of the tree are read from /proc/<pid>/smaps_rollup
and /proc/<pid>/status and summed per role. Then the first jobs run, each timed from its POST to
the poll that sees it completed: a probe of a 2 s video (`POST /library/videos/info`) and an
offline TTS job (`POST /library/audio/tts`), then the memory is read again. Ctrl-C stops `up`.

Printed: per role (count, RSS, PSS) for both, the idle totals, the first jobs' times, and the
product's idle PSS against --limit-mb.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, free_port, setup_django, tree_cpu_seconds, wait_until  # noqa: E402
from bench.memory import process_tree, read_memory  # noqa: E402

MB = 1024 * 1024
WORKERS = 2  # up's default plan: renders: 1, light: 1
# Settings of a developer's shell that a user's `up` does not have (as tests/up_process.py).
NOT_INHERITED = {"DATABASE_URL", "REDIS_URL", "EF_USE_TEST_DB", "EF_CORS_ORIGINS", "EF_PRODUCTION"}


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def ppid_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# The names `up`'s forked children give themselves (editfactory/forking.py); a work horse is
# forked by its worker and keeps the name.
FORKED_ROLES = {"ef-web": "web", "ef-maintenance": "maintenance", "ef-worker": "worker"}
FORK_SERVER = "ef-forkserver"  # jobs.forkserver.NAME (a baseline checkout may have none)
SPARE_HORSE = "ef-spare-horse"  # jobs.forkserver.SPARE_NAME (nor this, before session 10)


def role_of(pid: int, root: int) -> str:
    """A process's role from its name or its command line (older `up`s exec'd each child)."""
    argv = cmdline(pid)
    text = " ".join(argv)
    if pid == root:
        return "supervisor (up)"
    if comm(pid) == FORK_SERVER:
        return "worker: fork server"
    if comm(pid) == SPARE_HORSE:
        return "worker: spare horse"
    if comm(pid) in FORKED_ROLES:
        role = FORKED_ROLES[comm(pid)]
        return "work horse" if comm(ppid_of(pid)) in (comm(pid), FORK_SERVER) else role
    if "redis-server" in text:
        return "redis"
    if "rqworker" in argv:
        return "worker"
    if "rqworker" in cmdline(ppid_of(pid)):
        return "work horse"
    if "maintenance" in argv:
        return "maintenance"
    if "multiprocessing.resource_tracker" in text:
        return "web: resource tracker"
    if "multiprocessing.spawn" in text:
        return "web: server process"
    if "uvicorn" in text:
        return "web: uvicorn"
    return Path(argv[0]).name if argv and argv[0] else "?"


@dataclass
class Figures:
    by_role: dict  # role -> [count, rss, pss]
    rss: int = 0
    pss: int = 0


def footprint(root_pid: int) -> Figures:
    figures = Figures(by_role={})
    for pid in process_tree(root_pid):
        memory = read_memory(pid)
        if memory is None:
            continue
        rss, _hwm, pss = memory
        entry = figures.by_role.setdefault(role_of(pid, root_pid), [0, 0, 0])
        entry[0] += 1
        entry[1] += rss
        entry[2] += pss
        figures.rss += rss
        figures.pss += pss
    return figures


def make_video(directory: Path) -> Path:
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = directory / "first-job.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", "-shortest",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    )  # fmt: skip
    return path


class RunningUp:
    """`manage.py up` of one checkout, in a fresh data dir, as a user runs it."""

    def __init__(self, checkout: Path, workdir: Path):
        self.checkout, self.port = checkout, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        self.env.update(
            EF_DATA_DIR=str(workdir / "data"),
            EF_ADMIN_PASSWORD="footprint-bench",  # noqa: S106 - a throwaway data dir
            EF_TTS_DEFAULT_PROVIDER="offline",
            DJANGO_SETTINGS_MODULE="editfactory.settings",
            PYTHONPATH=str(checkout),
        )
        self.log = (workdir / "up.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(checkout / "manage.py"), "up", "--port", str(self.port)],
            cwd=checkout, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def ready(self) -> bool:
        import httpx

        if self.process.poll() is not None:
            raise SystemExit(f"footprint: up exited with {self.process.returncode}")
        try:
            health = httpx.get(f"{self.base}/api/v1/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return health.get("workers") == WORKERS

    def token(self) -> str:
        return subprocess.run(
            [sys.executable, str(self.checkout / "manage.py"), "create_api_token", "admin",
             "--quiet"],
            cwd=self.checkout, env=self.env, capture_output=True, text=True, check=True,
        ).stdout.split()[-1]  # fmt: skip

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the foreground group
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def _seconds(job: dict, start: str, end: str) -> float:
    from django.utils.dateparse import parse_datetime

    return (parse_datetime(job[end]) - parse_datetime(job[start])).total_seconds()


def timed_job(client, post) -> tuple[float, float, float]:
    """Seconds from the POST to the first poll that sees the job completed, and of those, from
    its creation to its start (pickup: dequeue, fork of the work horse, claim) and from its start
    to its end (the work horse's run), from the job's own timestamps."""
    t0 = time.perf_counter()
    answer = post()
    if answer.status_code != 202:
        raise SystemExit(f"footprint: job refused: {answer.status_code} {answer.text[:300]}")
    url = answer.json()["status_url"]
    while True:
        job = client.get(url).json()
        if job["status"] == "completed":
            total = time.perf_counter() - t0
            return (
                total,
                _seconds(job, "created_at", "started_at"),
                _seconds(job, "started_at", "completed_at"),
            )
        if job["status"] in ("failed", "cancelled"):
            raise SystemExit(f"footprint: first job {job['status']}: {job['error']}")
        if time.perf_counter() - t0 > 120:
            raise SystemExit("footprint: first job not done in 120 s")
        time.sleep(0.01)


def first_jobs(up: RunningUp, video: Path) -> dict[str, tuple[float, float, float]]:
    import httpx

    headers = {"Authorization": f"Bearer {up.token()}"}
    with httpx.Client(base_url=up.base, headers=headers, timeout=30) as client:

        def probe():
            with video.open("rb") as fh:
                return client.post("/api/v1/library/videos/info", files={"file": fh})

        def tts():
            return client.post(
                "/api/v1/library/audio/tts", json={"text": "Hello from Edit Factory."}
            )

        return {"probe": timed_job(client, probe), "tts (offline)": timed_job(client, tts)}


def wait_idle(pid: int, *, window: float = 2.0, limit: float = 0.05, timeout: float = 180) -> float:
    """Seconds until the whole tree used less than `limit` of a core over `window` seconds (its
    processes done starting: a first job timed while a sibling still starts would share the
    CPU with it)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        cpu = tree_cpu_seconds(pid)
        time.sleep(window)
        if tree_cpu_seconds(pid) - cpu < limit * window:
            break
    return time.perf_counter() - t0


def measure(label: str, checkout: Path, video: Path, settle: float) -> dict:
    # No space in the path: RQ parses CLIENT LIST, where a unix socket path with one breaks it.
    workdir = Path(tempfile.mkdtemp(prefix="ef-footprint-"))
    up = RunningUp(checkout, workdir)
    try:
        t0 = time.perf_counter()
        wait_until(up.ready, timeout=300, interval=0.2)
        started = time.perf_counter() - t0
        time.sleep(settle)
        idle_after = wait_idle(up.process.pid) + settle
        idle = footprint(up.process.pid)
        jobs = first_jobs(up, video)
        after = footprint(up.process.pid)
    except BaseException:
        print(f"footprint: {label} failed; the end of its log:", flush=True)
        sys.stdout.write((workdir / "up.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        up.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"label": label, "started": started, "idle_after": idle_after, "idle": idle,
            "jobs": jobs, "after": after}  # fmt: skip


def report(results: list[dict]) -> None:
    roles = sorted({role for r in results for role in r["idle"].by_role})
    print(f"\n{'idle, per role (count, RSS MB / PSS MB)':44}" +
          "".join(f"{r['label']:>26}" for r in results))  # fmt: skip
    for role in roles:
        cells = []
        for r in results:
            n, rss, pss = r["idle"].by_role.get(role, (0, 0, 0))
            cells.append(f"{n} x, {rss / MB:6.0f} / {pss / MB:5.0f}" if n else "-")
        print(f"  {role:42}" + "".join(f"{c:>26}" for c in cells))
    for what, key in (("idle total", "idle"), ("after the first jobs", "after")):
        print(f"  {what:42}" + "".join(
            f"{'RSS ' + format(r[key].rss / MB, '.0f') + ' / PSS ' + format(r[key].pss / MB, '.0f'):>26}"
            for r in results))  # fmt: skip
    print(f"  {'ready after (s)':42}" + "".join(f"{r['started']:>26.1f}" for r in results))
    print(f"  {'then idle after (s)':42}" + "".join(f"{r['idle_after']:>26.1f}" for r in results))
    for job in results[0]["jobs"]:
        print(f"  {'first job: ' + job + ' (s): all / pickup / run':42}" + "".join(
            f"{' / '.join(format(x, '.2f') for x in r['jobs'][job]):>26}" for r in results))  # fmt: skip


def baseline_checkout(ref: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="ef-footprint-baseline-")) / "checkout"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), ref],
                   check=True, capture_output=True)  # fmt: skip
    return path


def remove_checkout(path: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                   check=False, capture_output=True)  # fmt: skip
    shutil.rmtree(path.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-ref", default="main", help="git ref of the baseline")
    parser.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    parser.add_argument("--rounds", type=int, default=1, help="baseline/product pairs")
    parser.add_argument("--settle", type=float, default=8.0, help="idle seconds before reading")
    parser.add_argument("--limit-mb", type=float, default=350.0, help="target idle PSS")
    args = parser.parse_args()

    setup_django()
    video = make_video(Path(os.environ["EF_DATA_DIR"]))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"(1, 5, 15 min) on {os.cpu_count()} cores", flush=True)  # fmt: skip
    baseline = None if args.no_baseline else baseline_checkout(args.baseline_ref)
    try:
        for n in range(1, args.rounds + 1):
            results = []
            if baseline:
                results.append(
                    measure(f"baseline {args.baseline_ref}", baseline, video, args.settle)
                )
            results.append(measure("this checkout", ROOT, video, args.settle))
            print(f"\nround {n}:", end="")
            report(results)
            product = results[-1]["idle"].pss / MB
            verdict = "met" if product <= args.limit_mb else "NOT met"
            ratio = (
                f" ({product / (results[0]['idle'].pss / MB):.2f}x the baseline)"
                if baseline
                else ""
            )
            print(
                f"  idle PSS {product:.0f} MB{ratio}; target <= {args.limit_mb:.0f} MB: {verdict}"
            )
    finally:
        if baseline:
            remove_checkout(baseline)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
