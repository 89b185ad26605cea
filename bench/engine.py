"""Engine benchmark: the job engine against raw RQ, and the job GET endpoint against a trivial one.

    uv run python bench/engine.py [--jobs 400] [--workers 2] [--samples 100] [--seconds 10]

Everything runs in one go on this machine with the same Redis, the same worker class and the same
number of workers, so the figures are ratios measured side by side:
  1. throughput: N no-op jobs through the engine (job_create -> claim -> handler -> complete)
     vs N no-op functions enqueued straight into RQ;
  2. pickup latency (enqueue -> start), p50/p99, one job at a time with idle workers;
  3. GET /api/v1/jobs/{id} vs GET /api/v1/ping on the same uvicorn server, at a fixed 200 req/s
     (p50/p99) and closed-loop (max req/s).
Defaults: SQLite and the embedded Redis in a temporary data dir; set DATABASE_URL/REDIS_URL to
measure PostgreSQL/Redis instead.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EF_DATA_DIR", tempfile.mkdtemp(prefix="ef-bench-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "editfactory.settings_test"  # registers the `noop` type
os.environ.setdefault("EF_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rq.job import Job as RQJob  # noqa: E402

from editfactory.embedded_redis import embedded_redis_from_settings  # noqa: E402
from jobs import services  # noqa: E402
from jobs.auth import api_token_create  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.queue import enqueue, get_queue  # noqa: E402
from jobs.status import JobStatus  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def start_workers(n):
    env = dict(os.environ, REDIS_URL=settings.REDIS_URL)
    argv = [sys.executable, str(ROOT / "manage.py"), "rqworker", settings.RQ_QUEUE, "--worker-class",
            "jobs.worker.EngineWorker", "--verbosity", "0"]  # fmt: skip
    procs = [subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]  # fmt: skip
    time.sleep(3)  # let them register and idle
    return procs


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)


def wait_until(predicate, timeout=600):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.01)


def engine_throughput(n, *, include_create: bool):
    """Engine jobs/s. With include_create, the timed part includes job_create (row insert +
    enqueue) competing for the same cores; without, rows exist and only the enqueue is timed,
    exactly as the raw-RQ baseline."""
    Job.objects.all().delete()
    if include_create:
        t0 = time.perf_counter()
        for _ in range(n):
            services.job_create(job_type="noop")
    else:
        ids = [j.id for j in Job.objects.bulk_create(Job(job_type="noop") for _ in range(n))]
        t0 = time.perf_counter()
        for job_id in ids:
            enqueue(job_id, timeout=30)
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


class RawHttpClient:
    """A minimal keep-alive HTTP/1.1 GET client on a raw socket: the load generator must cost far
    less CPU than the server it measures (http.client's header parsing does not)."""

    def __init__(self, port, path, headers):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: 127.0.0.1",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.buffer = b""

    def get(self) -> int:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return status

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk


def _client_loop(port, path, headers, start, interval, count, latencies, errors):
    """One connection sending `count` requests on a fixed schedule (open loop: a request that
    has to wait for the previous one counts that wait in its latency)."""
    client = RawHttpClient(port, path, headers)
    for i in range(count):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        status = client.get()
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 200:
            errors.append(status)


def fixed_rate(port, path, headers, rate, seconds, connections=8):
    latencies, errors = [], []
    per_conn = int(rate * seconds / connections)
    interval = connections / rate
    start = time.perf_counter() + 0.2
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(port, path, headers, start + k / rate, interval, per_conn, latencies, errors),
        )
        for k in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, len(errors)


def closed_loop(port, path, headers, seconds, connections=4):
    counts = []

    def loop():
        client, n, end = RawHttpClient(port, path, headers), 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            client.get()
            n += 1
        counts.append(n)

    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def api_bench(seconds, web_workers):
    user = get_user_model().objects.create_user("bench")
    token = api_token_create(user=user, name="bench")[1]
    job = services.job_create(job_type="noop", owner=user)
    port = 8799
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "editfactory.asgi:application", "--port", str(port), "--no-access-log", "--workers", str(web_workers),
         "--log-level", "warning"], cwd=ROOT, env=dict(os.environ, REDIS_URL=settings.REDIS_URL))  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    wait_until(lambda: _up(base), timeout=30)
    try:
        rows = {}
        # An Origin header sends the poll through Django's full stack (jobs.fastpoll declines it).
        full_stack = dict(headers, Origin="http://frontend.example")
        for name, path, hdrs in (
            ("trivial GET /ping", "/api/v1/ping", headers),
            ("GET /jobs/{id}", f"/api/v1/jobs/{job.id}", headers),
            ("GET /jobs/{id} via Django's full stack", f"/api/v1/jobs/{job.id}", full_stack),
        ):
            fixed_rate(port, path, hdrs, 50, 1)  # warm-up
            lat, errors = fixed_rate(port, path, hdrs, 200, seconds)
            rps = closed_loop(port, path, hdrs, seconds / 2)
            rows[name] = (pct(lat, 50), pct(lat, 99), rps, errors)
        return rows
    finally:
        server.terminate()
        server.wait()


def _up(base):
    try:
        return httpx.get(f"{base}/ping").status_code == 200
    except httpx.HTTPError:
        return False


def engine_bench(args) -> None:
    workers = start_workers(args.workers)
    try:
        raw = raw_throughput(args.jobs)
        eng = engine_throughput(args.jobs, include_create=False)
        e2e = engine_throughput(args.jobs, include_create=True)
        print(f"throughput ({args.jobs} no-op jobs, {args.workers} workers): raw RQ {raw:.1f} jobs/s; "
              f"engine {eng:.1f} jobs/s, ratio {eng / raw:.2f} (target >= 0.50); "
              f"engine incl. job_create in the same loop {e2e:.1f} jobs/s, ratio {e2e / raw:.2f}")  # fmt: skip
        raw_lat = raw_pickup(args.samples)
        eng_lat = engine_pickup(args.samples)
        print(f"pickup latency ({args.samples} jobs, enqueue->start): raw RQ p50 {pct(raw_lat, 50):.1f} ms "
              f"p99 {pct(raw_lat, 99):.1f} ms; engine p50 {pct(eng_lat, 50):.1f} ms p99 {pct(eng_lat, 99):.1f} ms "
              f"(target p50 < 50 ms)")  # fmt: skip
    finally:
        stop(workers)


def print_api_bench(args) -> None:
    rows = api_bench(args.seconds, args.web_workers)
    for name, (p50, p99, rps, errors) in rows.items():
        print(f"{name} ({args.web_workers} uvicorn processes): at 200 req/s p50 {p50:.1f} ms p99 {p99:.1f} ms; "
              f"closed-loop {rps:.0f} req/s; errors {errors}")  # fmt: skip
    trivial, job = rows["trivial GET /ping"], rows["GET /jobs/{id}"]
    print(f"job GET vs trivial: p99 {job[1]:.1f} vs {trivial[1]:.1f} ms (target job p99 < 15 ms); "
          f"max req/s ratio {job[2] / trivial[2]:.2f}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--web-workers", type=int, default=2, help="uvicorn processes (as `manage.py up`)"
    )
    parser.add_argument("--skip-api", action="store_true", help="only the engine part")
    parser.add_argument("--only-api", action="store_true", help="only the API part")
    args = parser.parse_args()

    redis_server = embedded_redis_from_settings() if settings.EMBEDDED_REDIS else None
    if redis_server:
        redis_server.start()
    try:
        call_command("migrate", verbosity=0)
        get_queue().connection.flushdb()
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        redis = "embedded" if redis_server else settings.REDIS_URL
        print(f"database: {db}; redis: {redis}; workers: {args.workers}")
        if not args.only_api:
            engine_bench(args)
        if not args.skip_api:
            print_api_bench(args)
    finally:
        if redis_server:
            redis_server.stop()


if __name__ == "__main__":
    main()
