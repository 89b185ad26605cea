"""Render throughput with one worker host against two, measured in one run on this machine:
PostgreSQL and Redis (the machine's), media in a bucket of moto's S3 server (started here), each
worker host a separate `manage.py up --role worker --workers renders=1` with its own data and
temp dirs, as in production (docs/production.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/scale_out.py [--database ef_scale_bench] [--jobs 6] [--seconds 8] \\
        [--preset instagram_reels] [--rounds 1]

Each round runs the two setups one after the other (1 host, then 2): the hosts are started and
their workers seen in RQ's registry first, then --jobs `render_clip` jobs (a --seconds lavfi clip
with a tone, in --preset, the source shared in the bucket) are created at once and the wall time
until the last one completed is taken. Printed: each setup's median wall time and renders per
minute, the ratio (1 host / 2 hosts), the machine's cores and its load average before and after.

x264 already spreads one render over every core (threads = cores), so a second host on the same
machine only fills the gaps (probing, loudness analysis, muxing, uploads, job start-up): on 2
cores expect ~1.x, not 2. On separate machines each host brings its own cores.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import setup_django  # noqa: E402
from bench.jobs_list import Refused, bench_database_url, ensure_database  # noqa: E402

SHARED = {"SECRET_KEY": "scale-out-bench-secret-key", "EF_WEBHOOK_SECRET": "scale-out-bench"}


def _services(database: str, work: Path):
    """The bench database (created, migrated), moto's server and a bucket, in os.environ."""
    from tests.s3server import MotoServer, bucket_env, s3_client

    if not os.environ.get("REDIS_URL"):
        raise Refused("needs REDIS_URL: worker hosts share Redis (e.g. redis://127.0.0.1:6379/0)")
    url, maintenance = bench_database_url(database)
    ensure_database(maintenance, database)
    moto = MotoServer(work)
    s3_client(moto.endpoint).create_bucket(Bucket="scale-out-bench")
    os.environ.update(DATABASE_URL=url, **bucket_env(moto.endpoint, "scale-out-bench"), **SHARED)
    os.environ["EF_DATA_DIR"] = str(work / "bench")
    setup_django("editfactory.settings")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return moto


def _source(work: Path, seconds: float) -> str:
    """A lavfi test clip with a tone, stored once in the bucket: every job's shared input."""
    from django.core.files import File
    from django.core.files.storage import default_storage

    from tests.media import MediaFactory

    path = MediaFactory(work).video(seconds=seconds, size="1280x720", fps=30)
    with path.open("rb") as fh:
        return default_storage.save("bench/scale-out-source.mp4", File(fh))


def _start_hosts(count: int, work: Path) -> list[subprocess.Popen]:
    from editfactory.roles import up_argv

    hosts = []
    for n in range(count):
        host_dir = Path(tempfile.mkdtemp(prefix=f"host{n}-", dir=work))
        env = dict(os.environ, EF_DATA_DIR=str(host_dir), EF_TEMP_DIR=str(host_dir / "tmp"))
        log = (host_dir / "up.log").open("wb")
        argv = up_argv("worker", workers="renders=1")
        hosts.append(
            subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )  # fmt: skip
        )
    return hosts


def _stop_hosts(hosts: list[subprocess.Popen]) -> None:
    for host in hosts:
        os.killpg(host.pid, signal.SIGINT)
    for host in hosts:
        host.wait(timeout=120)


def _live_render_workers() -> int:
    from rq import Worker

    from jobs.queue import get_connection

    return sum("renders" in w.queue_names() for w in Worker.all(connection=get_connection()))


def _wait(predicate, timeout: float, what: str, hosts=()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if any(h.poll() is not None for h in hosts):
            raise SystemExit(f"a worker host exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.2)


def _measure(hosts_count: int, args, owner, source: str, work: Path) -> float:
    """Wall seconds from creating --jobs renders to the last one completed, on `hosts_count`
    freshly started worker hosts."""
    from jobs.models import Job
    from jobs.services import job_create

    hosts = _start_hosts(hosts_count, work)
    try:
        _wait(lambda: _live_render_workers() == hosts_count, 300, "the workers", hosts)
        params = {"preset": args.preset}
        started = time.monotonic()
        ids = [
            job_create(job_type="render_clip", params=params, owner=owner,
                       shared_inputs={"source": source}).id
            for _ in range(args.jobs)
        ]  # fmt: skip
        jobs = Job.objects.filter(id__in=ids)
        _wait(lambda: not jobs.exclude(status__in=("completed", "failed")).exists(),
              3600, "the renders", hosts)  # fmt: skip
        wall = time.monotonic() - started
        failed = list(jobs.filter(status="failed").values_list("error", flat=True))
        if failed:
            raise SystemExit(f"{len(failed)} render(s) failed: {failed[0]}")
        return wall
    finally:
        _stop_hosts(hosts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="ef_scale_bench", help="PostgreSQL; never test*")
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--preset", default="instagram_reels")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ef-scale-out-"))
    moto = None
    try:
        moto = _services(args.database, work)
        _run(args, work)
    except Refused as exc:
        raise SystemExit(f"scale_out: {exc}") from None
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)


def _run(args, work: Path) -> None:
    from django.contrib.auth import get_user_model

    owner, _ = get_user_model().objects.get_or_create(username="scale-out-bench")
    source = _source(work, args.seconds)
    load_before = os.getloadavg()
    walls: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for hosts in (1, 2):
            walls[hosts].append(_measure(hosts, args, owner, source, work))
            print(f"  {hosts} worker host(s): {walls[hosts][-1]:.1f} s", flush=True)
    load_after = os.getloadavg()
    one, two = (statistics.median(walls[n]) for n in (1, 2))
    print(f"{args.jobs} render_clip jobs ({args.seconds:g} s 1280x720 source -> {args.preset}), "
          f"PostgreSQL + Redis + moto S3, {os.cpu_count()} cores")  # fmt: skip
    for hosts, wall in ((1, one), (2, two)):
        print(f"{hosts} worker host(s): {wall:.1f} s, {args.jobs / wall * 60:.1f} renders/min")
    print(f"ratio (1 host / 2 hosts): {one / two:.2f}x")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")


if __name__ == "__main__":
    main()
