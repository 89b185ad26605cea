"""Engine benchmark: the job engine against raw RQ, and the job GET endpoint against a trivial one.

    uv run python bench/engine.py [--jobs 400] [--workers 2,4] [--rounds 2] [--samples 100]
        [--cost-jobs 200] [--seconds 10] [--rates 200,1000] [--web-workers 2]
        [--only-api | --skip-api] [--baseline-ref REF]

Everything runs in one go on this machine with the same Redis, the same worker class and the same
number of workers, so the figures are ratios measured side by side:
  1. throughput: N no-op jobs through the engine (job_create -> claim -> handler -> complete)
     vs N no-op functions enqueued straight into RQ, one row per worker count;
  2. pickup latency (enqueue -> start), p50/p99, one job at a time with idle workers;
  3. what one job costs the worker (its own process and its work horses): database statements,
     transactions and connections opened, Redis round trips and commands, counted by one worker
     started through bench/_counting.py, for raw RQ and the engine;
  4. GET /api/v1/jobs/{id} vs GET /api/v1/ping on the same uvicorn server (the poll on its fast
     path, editfactory.fastpoll; also cross-origin), and the web frontend's poll,
     GET /api/frontend/v1/jobs/{id} (the compatibility job view, Django's full stack, with the
     browser's Origin header); then the same v1 poll on a server running Django's ASGI handler
     alone. Each offered at each fixed rate (open loop: achieved rate, p50/p99, the load
     generator's own CPU, since it shares the machine's cores with the server, and the server's
     CPU per request) and closed-loop (max req/s).
Defaults: SQLite and the embedded Redis in a temporary data dir; set DATABASE_URL/REDIS_URL to
measure PostgreSQL/Redis instead. `--baseline-ref REF` (e.g. main): each throughput round also
runs the engine's workers from a `git worktree` of REF (this checkout's Python environment and
database schema: REF must have the same migrations), so a change is measured against the code
before it in the same run, round by round.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ROOT,
    api_server,
    closed_loop,
    embedded_redis,
    fixed_rate,
    parse_ints,
    pct,
    process_cpu_seconds,
    setup_django,
    start_workers,
    stop,
    tree_cpu_seconds,
    wait_until,
    worker_argv,
)
from bench._counting import read_counts  # noqa: E402
from bench.footprint import baseline_checkout, remove_checkout  # noqa: E402

# Production's sharing of queue snapshots between polls (settings_test turns it off for tests).
os.environ.setdefault("EF_QUEUE_SNAPSHOT_TTL", "1")
setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rq.job import Job as RQJob  # noqa: E402

from core.auth import api_token_create  # noqa: E402
from jobs import services  # noqa: E402
from jobs.models import Job, JobFile  # noqa: E402
from jobs.queue import get_queue, wake  # noqa: E402
from jobs.status import JobStatus  # noqa: E402
from media_pipeline.frontend.job_shapes import job_id_text  # noqa: E402


def engine_throughput(n, *, include_create: bool):
    """Engine jobs/s. With include_create, the timed part includes job_create (row insert +
    wake-up token) competing for the same cores; without, rows exist and only the tokens are
    timed (one per job, as job_create puts them), exactly as the raw-RQ baseline."""
    Job.objects.all().delete()
    if include_create:
        t0 = time.perf_counter()
        for _ in range(n):
            services.job_create(job_type="noop")
    else:
        ids = [j.id for j in Job.objects.bulk_create(Job(job_type="noop") for _ in range(n))]
        t0 = time.perf_counter()
        for _job_id in ids:
            wake("light")
    wait_until(lambda: Job.objects.filter(status=JobStatus.COMPLETED).count() >= n)
    return n / (time.perf_counter() - t0)


def raw_throughput(n):
    queue = get_queue()
    before = queue.finished_job_registry.count
    t0 = time.perf_counter()
    for _ in range(n):
        queue.enqueue("bench.rq_tasks.raw_noop", result_ttl=600)
    wait_until(lambda: queue.finished_job_registry.count - before >= n)
    return n / (time.perf_counter() - t0)


def engine_pickup(samples):
    lat = []
    for _ in range(samples):
        job = services.job_create(job_type="noop")
        wait_until(
            lambda job=job: Job.objects.filter(id=job.id, status=JobStatus.COMPLETED).exists()
        )
        job.refresh_from_db()
        lat.append((job.started_at - job.created_at).total_seconds() * 1000)
    return lat


def raw_pickup(samples):
    queue = get_queue()
    lat = []
    for _ in range(samples):
        job = queue.enqueue("bench.rq_tasks.raw_noop", result_ttl=600)
        wait_until(lambda job=job: job.get_status(refresh=True) == "finished")
        job = RQJob.fetch(job.id, connection=queue.connection)
        lat.append((job.started_at - job.enqueued_at).total_seconds() * 1000)
    return lat


def warm_up() -> None:
    """A few jobs of each kind first: the workers are started (on a busy machine they may still
    be importing after the settle time) and have run both kinds once."""
    raw_throughput(10)
    engine_throughput(10, include_create=False)


def stock_worker_argv() -> list[str]:
    """RQ's own worker class on the same queues: the baseline a plain RQ user has (it forks
    each horse from the worker itself; the engine's worker forks them from its fork server)."""
    argv = worker_argv()
    argv[argv.index("jobs.worker.EngineWorker")] = "rq.worker.Worker"
    return argv


def engine_bench(args, n_workers) -> None:
    # Alternating rounds, best of each: the machine is shared, and one slow round of either
    # side would otherwise decide the ratio. Each round runs raw RQ and the engine on the
    # engine's worker class, then raw RQ on RQ's own worker class.
    raw, eng, e2e, stock, base = [], [], [], [], []
    for round_ in range(args.rounds):
        # The baseline runs last in even rounds, first in odd ones: a drift within a round
        # favours neither side.
        if args.baseline and round_ % 2:
            base.append(baseline_throughput(args, n_workers))
        workers = start_workers(n_workers)
        try:
            warm_up()
            raw.append(raw_throughput(args.jobs))
            eng.append(engine_throughput(args.jobs, include_create=False))
            e2e.append(engine_throughput(args.jobs, include_create=True))
        finally:
            stop(workers)
        workers = start_workers(n_workers, stock_worker_argv())
        try:
            raw_throughput(10)
            stock.append(raw_throughput(args.jobs))
        finally:
            stop(workers)
        if args.baseline and not round_ % 2:
            base.append(baseline_throughput(args, n_workers))
    # Each round's engine and raw RQ ran minutes apart at most: their ratio, round by round.
    paired = sorted(e / s for e, s in zip(eng, stock, strict=True))
    if base:
        print_baseline(args.baseline_ref, n_workers, eng, stock, base)
    raw, eng, e2e, stock = max(raw), max(eng), max(e2e), max(stock)
    print(f"throughput ({args.jobs} no-op jobs, {n_workers} workers, best of {args.rounds}): "
          f"engine {eng:.1f} jobs/s; raw RQ on RQ's own worker class {stock:.1f} jobs/s, ratio "
          f"{eng / stock:.2f}; raw RQ on the engine's worker class {raw:.1f} jobs/s, ratio "
          f"{eng / raw:.2f} (target >= 0.80 against each); engine incl. job_create in the same "
          f"loop {e2e:.1f} jobs/s, ratio {e2e / stock:.2f} / {e2e / raw:.2f}; engine against RQ's "
          f"own worker round by round: median {statistics.median(paired):.2f} (rounds "
          f"{', '.join(f'{r:.2f}' for r in paired)})", flush=True)  # fmt: skip
    workers = start_workers(n_workers)
    try:
        warm_up()
        raw_lat = raw_pickup(args.samples)
        eng_lat = engine_pickup(args.samples)
        print(f"pickup latency ({args.samples} jobs, {n_workers} workers, enqueue->start): raw RQ "
              f"p50 {pct(raw_lat, 50):.1f} ms p99 {pct(raw_lat, 99):.1f} ms; engine p50 "
              f"{pct(eng_lat, 50):.1f} ms p99 {pct(eng_lat, 99):.1f} ms (target p50 < 50 ms)",
              flush=True)  # fmt: skip
    finally:
        stop(workers)


def baseline_throughput(args, n_workers) -> float:
    """The engine's jobs/s with its workers running the baseline checkout's code."""
    workers = start_workers(n_workers, checkout=args.baseline)
    try:
        warm_up()
        return engine_throughput(args.jobs, include_create=False)
    finally:
        stop(workers)


def print_baseline(ref: str, n_workers: int, eng, stock, base) -> None:
    """The baseline's engine against RQ's own worker, and this engine against the baseline,
    round by round (each round's three runs minutes apart at most)."""
    median = lambda pairs: statistics.median(a / b for a, b in pairs)  # noqa: E731
    print(f"baseline {ref} ({n_workers} workers, {len(base)} rounds): engine best "
          f"{max(base):.1f} jobs/s (this checkout {max(eng):.1f}); against RQ's own worker round "
          f"by round: median {median(zip(base, stock, strict=True)):.2f} (this checkout "
          f"{median(zip(eng, stock, strict=True)):.2f}); this checkout against the baseline "
          f"round by round: median {median(zip(eng, base, strict=True)):.2f}", flush=True)  # fmt: skip


def worker_cpu_seconds(pid: int) -> float:
    """CPU used by a worker, its fork server and their ended work horses (each horse's time is
    added to its parent's children's time once it is waited for), from /proc."""
    return tree_cpu_seconds(pid, reaped=True)


def database_cpu() -> dict[int, float] | None:
    """CPU seconds used so far by each PostgreSQL backend serving the benchmark's database
    other than this process's own (the workers'), read from /proc: only for a PostgreSQL on
    this machine (None for SQLite, which runs inside the worker, or a server elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    cpu = {}
    for pid in pids:
        proc = Path(f"/proc/{pid}")
        try:
            if proc.joinpath("comm").read_text().strip() != "postgres":
                return None  # another machine's pid
            cpu[pid] = process_cpu_seconds(pid)
        except OSError:
            continue  # ended meanwhile, or a server elsewhere (checked by the others)
    return cpu


def database_cpu_used(before: dict[int, float] | None) -> float | None:
    after = database_cpu()
    if before is None or after is None:
        return None
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def per_job_costs(n: int) -> None:
    """Statements, transactions, connections, Redis traffic and CPU per job in one counting
    worker (its fork server and horses included): raw RQ on RQ's own worker class, raw RQ and
    the engine on the engine's (rows made beforehand, as in the throughput). CPU time hardly
    depends on what else runs on the machine, throughput does."""
    counts_file = Path(settings.DATA_DIR) / "worker-counts.bin"
    counting = [sys.executable, str(ROOT / "bench" / "_counting.py"), str(counts_file)]
    per_job = {}
    for argv, runs in (
        (stock_worker_argv(), (("raw RQ, RQ's worker", lambda: raw_throughput(n)),)),
        (worker_argv(), (
            ("raw RQ, engine's worker", lambda: raw_throughput(n)),
            ("engine", lambda: engine_throughput(n, include_create=False)),
        )),
    ):  # fmt: skip
        workers = start_workers(1, [*counting, *argv[2:]])
        try:
            raw_throughput(10)
            for name, run in runs:
                before, cpu = read_counts(counts_file), worker_cpu_seconds(workers[0].pid)
                db_before = database_cpu()
                run()
                after = read_counts(counts_file)
                per_job[name] = {k: (after[k] - before[k]) / n for k in after}
                per_job[name]["cpu_ms"] = (worker_cpu_seconds(workers[0].pid) - cpu) / n * 1000
                db_used = database_cpu_used(db_before)
                per_job[name]["db_cpu_ms"] = None if db_used is None else db_used / n * 1000
        finally:
            stop(workers)
    for name, c in per_job.items():
        print(f"per job in the worker and its horses ({name}, {n} jobs, 1 worker): "
              f"{c['statements']:.1f} SQL statements in {c['transactions']:.1f} transactions "
              f"(PostgreSQL round trips: statements + 2 per transaction = "
              f"{c['statements'] + 2 * c['transactions']:.1f}), {c['connections']:.2f} database "
              f"connections opened; Redis {c['redis_round_trips']:.1f} round trips "
              f"({c['redis_commands']:.1f} commands); CPU {c['cpu_ms']:.2f} ms"
              + ("" if c["db_cpu_ms"] is None else
                 f"; PostgreSQL's own CPU (its backends) {c['db_cpu_ms']:.2f} ms"),
              flush=True)  # fmt: skip
    engine = per_job["engine"]["cpu_ms"]
    print("worker CPU per job (the worker, its fork server and horses; SQL server not counted): "
          + "; ".join(f"{name} {c['cpu_ms']:.2f} ms (ratio to the engine's "
                      f"{c['cpu_ms'] / engine:.2f})" for name, c in per_job.items()),
          flush=True)  # fmt: skip


def completed_variants_job(user, *, variants: int) -> Job:
    """A completed `process` job row with its variant files registered (rows only)."""
    result = {
        "variants": [
            {"index": n, "name": f"reel_v{n}", "duration": 20.0, "segments": []}
            for n in range(1, variants + 1)
        ]
    }
    job = Job.objects.create(
        job_type="process", owner=user, status=JobStatus.COMPLETED, progress=100, result=result
    )
    for n in range(1, variants + 1):
        for label, suffix, kind in (
            ("variant", "mp4", "video/mp4"),
            ("thumbnail", "jpg", "image/jpeg"),
        ):
            JobFile.objects.create(
                job=job,
                name=f"jobs/{job.id}/output/{label}_{n}.{suffix}",
                role=JobFile.Role.OUTPUT,
                label=f"{label}_{n}",
                content_type=kind,
                size=1000,
            )
    return job


def api_bench(args) -> None:
    user = get_user_model().objects.get_or_create(username="bench")[0]  # kept by earlier runs
    token = api_token_create(user=user, name="bench")[1]
    job = services.job_create(job_type="noop", owner=user)
    headers = {"Authorization": f"Bearer {token}"}
    cross_origin = dict(headers, Origin="http://frontend.example")
    path = f"/api/v1/jobs/{job.id}"
    # The frontend polls with its own (signed) job id, from its origin (every call is CORS); the
    # job polled is the heaviest answer the page gets: a completed process job of 3 variants,
    # each variant's video and thumbnail a signed path token.
    frontend = dict(headers, Origin="http://localhost:3000")
    done = completed_variants_job(user, variants=3)
    frontend_poll = "frontend GET /api/frontend/v1/jobs/{id}"
    # (app served, endpoints): the production app (polls on the fast path, editfactory.fastpoll),
    # then Django's ASGI handler alone, which answers the same poll through its full stack.
    servers = (
        ("editfactory.asgi:application", (
            ("trivial GET /ping", "/api/v1/ping", headers),
            ("GET /jobs/{id}", path, headers),
            ("GET /jobs/{id} cross-origin (CORS middleware)", path, cross_origin),
            (frontend_poll, f"/api/frontend/v1/jobs/{job_id_text(done)}", frontend),
        )),
        ("editfactory.asgi:django_application", (
            ("GET /jobs/{id} via Django's ASGI handler", path, headers),
        )),
    )  # fmt: skip
    results, cpu = {}, {}
    for app, endpoints in servers:
        started = []
        with api_server(args.web_workers, app=app, on_start=started.append) as port:
            server_pid = started[0].pid
            for name, url, hdrs in endpoints:
                fixed_rate(port, url, hdrs, 50, 1)  # warm-up
                for rate in args.rates:
                    cpu0 = tree_cpu_seconds(server_pid)
                    result = fixed_rate(port, url, hdrs, rate, args.seconds)
                    per_request = (tree_cpu_seconds(server_pid) - cpu0) / max(
                        len(result.latencies), 1
                    )
                    results[name, rate], cpu[name, rate] = result, per_request * 1000
                    print(f"{name} ({args.web_workers} uvicorn processes): {result.describe()}; "
                          f"server CPU {cpu[name, rate]:.2f} ms/request", flush=True)  # fmt: skip
                rps = closed_loop(port, url, hdrs, args.seconds / 2)
                results[name, "closed"] = rps
                print(f"{name}: closed-loop {rps:.0f} req/s", flush=True)
    trivial, poll = "trivial GET /ping", "GET /jobs/{id}"
    full = "GET /jobs/{id} via Django's ASGI handler"
    for rate in args.rates:
        job_r, ping_r, full_r = results[poll, rate], results[trivial, rate], results[full, rate]
        met = job_r.p99 <= 15 and job_r.achieved >= 0.99 * rate and not job_r.errors
        print(f"job GET vs trivial vs Django's handler at {rate} req/s offered: achieved "
              f"{job_r.achieved:.0f} vs {ping_r.achieved:.0f} vs {full_r.achieved:.0f} req/s; "
              f"p50 {job_r.p50:.1f} vs {ping_r.p50:.1f} vs {full_r.p50:.1f} ms; p99 "
              f"{job_r.p99:.1f} vs {ping_r.p99:.1f} vs {full_r.p99:.1f} ms "
              f"(target: rate achieved, job p99 <= 15 ms: {'met' if met else 'MISSED'})")  # fmt: skip
    print(f"job GET closed loop: {results[poll, 'closed']:.0f} req/s; ratio to trivial "
          f"{results[poll, 'closed'] / results[trivial, 'closed']:.2f}, to Django's handler "
          f"{results[poll, 'closed'] / results[full, 'closed']:.2f}")  # fmt: skip
    for rate in args.rates:
        print(f"server CPU per request at {rate} req/s: job GET {cpu[poll, rate]:.2f} ms, trivial "
              f"{cpu[trivial, rate]:.2f} ms, Django's handler {cpu[full, rate]:.2f} ms (at this "
              f"cost two cores serve 1,000 job GETs/s {cpu[poll, rate] / 2:.0%} busy)")  # fmt: skip
    for rate in args.rates:
        front, ping_r = results[frontend_poll, rate], results[trivial, rate]
        print(f"frontend job poll vs trivial at {rate} req/s offered: achieved "
              f"{front.achieved:.0f} vs {ping_r.achieved:.0f} req/s; p50 {front.p50:.1f} vs "
              f"{ping_r.p50:.1f} ms; p99 {front.p99:.1f} vs {ping_r.p99:.1f} ms "
              f"(target p99 <= 15 ms)")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument(
        "--workers", type=parse_ints, default=[2], help="RQ worker counts, e.g. 2,4 (one row each)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (best counts)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument(
        "--cost-jobs", type=int, default=200, help="jobs of the per-job cost count (0: skip)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of each API run")
    parser.add_argument(
        "--rates",
        type=parse_ints,
        default=[200],
        help="offered req/s of the API runs, e.g. 200,1000",
    )
    parser.add_argument(
        "--web-workers", type=int, default=2, help="uvicorn processes (as `manage.py up`)"
    )
    parser.add_argument("--skip-api", action="store_true", help="only the engine part")
    parser.add_argument("--only-api", action="store_true", help="only the API part")
    parser.add_argument(
        "--baseline-ref", help="also run the throughput rounds' engine from a checkout of this ref"
    )
    args = parser.parse_args()
    args.baseline = baseline_checkout(args.baseline_ref) if args.baseline_ref else None
    try:
        run(args)
    finally:
        if args.baseline:
            remove_checkout(args.baseline)


def run(args) -> None:
    """The benchmark's parts, on the embedded Redis (or REDIS_URL's)."""
    with embedded_redis() as redis:
        call_command("migrate", verbosity=0)
        get_queue().connection.flushdb()
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(f"database: {db}; redis: {redis}; workers: {args.workers}", flush=True)
        if not args.only_api:
            for n_workers in args.workers:
                engine_bench(args, n_workers)
            if args.cost_jobs:
                per_job_costs(args.cost_jobs)
        if not args.skip_api:
            api_bench(args)


if __name__ == "__main__":
    main()
