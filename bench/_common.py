"""Shared pieces of the benchmarks: Django on a private data dir, the embedded Redis, RQ workers
and a uvicorn server as subprocesses, and a small open-loop HTTP load generator.

Nothing here imports Django at module level: a benchmark first picks its settings and database
(`setup_django`), then imports the rest.
"""

import atexit
import contextlib
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(settings_module: str = "editfactory.settings_test") -> None:
    """settings_test registers the `noop` job type; the data dir is a temporary one, never the
    development data."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if "EF_DATA_DIR" not in os.environ:
        data_dir = tempfile.mkdtemp(prefix="ef-bench-")
        os.environ["EF_DATA_DIR"] = data_dir
        # Renders leave hundreds of MB of media there.
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ.setdefault("EF_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def cache_dir() -> Path:
    """Where the benchmarks keep the media they make once: $EF_BENCH_CACHE, by default
    ~/.cache/editfactory-bench."""
    default = Path.home() / ".cache" / "editfactory-bench"
    path = Path(os.environ.get("EF_BENCH_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def wait_until(predicate, timeout=600, interval=0.01):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(interval)


def parse_ints(text: str) -> list[int]:
    """`--workers 2,4` -> [2, 4]."""
    return [int(part) for part in text.split(",") if part.strip()]


@contextlib.contextmanager
def embedded_redis():
    """Start the embedded Redis when REDIS_URL is unset (as `manage.py up` does)."""
    from django.conf import settings

    from editfactory.embedded_redis import embedded_redis_from_settings

    server = embedded_redis_from_settings() if settings.EMBEDDED_REDIS else None
    if server:
        server.start()
    try:
        yield "embedded" if server else settings.REDIS_URL
    finally:
        if server:
            server.stop()


def _child_env() -> dict:
    from django.conf import settings

    return dict(os.environ, REDIS_URL=settings.REDIS_URL)


def worker_argv(checkout: Path = ROOT) -> list[str]:
    """`manage.py rqworker` with the engine's worker class, of this checkout or another one (a
    baseline: its code, this one's Python environment)."""
    from jobs.queue import worker_queue_names

    return [sys.executable, str(checkout / "manage.py"), "rqworker", *worker_queue_names(),
            "--worker-class", "jobs.worker.EngineWorker", "--verbosity", "0"]  # fmt: skip


def start_workers(
    n: int, argv: list[str] | None = None, settle: float = 3, checkout: Path = ROOT
) -> list:
    """n real `manage.py rqworker` processes of `checkout` (default: the engine's worker class)."""
    argv = argv or worker_argv(checkout)
    procs = [subprocess.Popen(argv, env=_child_env(), cwd=checkout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(n)]  # fmt: skip
    time.sleep(settle)  # let them register and idle
    return procs


def stop(procs) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def api_server(
    web_workers: int = 2, app: str = "editfactory.asgi:application", on_start=None, checkout=ROOT
):
    """The production ASGI app (or another `app`) under uvicorn (as `manage.py up`), on a free
    loopback port. `on_start` is given the server's process (see `tree_cpu_seconds`); `checkout`:
    another checkout's code (a baseline), with this one's Python environment."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port),
         "--no-access-log", "--workers", str(web_workers), "--log-level", "warning"],
        cwd=checkout, env=dict(_child_env(), PYTHONPATH=str(checkout)))  # fmt: skip
    if on_start is not None:
        on_start(server)

    def up():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/ping").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=300, interval=0.1)  # a loaded machine starts slowly
        yield port
    finally:
        server.terminate()
        server.wait()


class RawHttpClient:
    """A minimal keep-alive HTTP/1.1 GET client on a raw socket: the load generator must cost far
    less CPU than the server it measures (http.client's header parsing does not)."""

    def __init__(self, port, path, headers):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: 127.0.0.1",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.buffer = b""

    def get(self) -> int:
        return self.get_with_body()[0]

    def get_with_body(self) -> tuple[int, bytes]:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return status, rest[:length]

    def close(self) -> None:
        self.sock.close()

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk


@dataclass
class LoadResult:
    offered: float  # req/s asked for
    achieved: float  # req/s completed over the run (below `offered` when the server saturates)
    latencies: list  # ms, measured from each request's scheduled time
    errors: int  # non-200 answers
    unsent: int  # requests dropped because the run hit its time cap
    generator_cpu: float  # CPU the load generator used, in cores (1.0 = one core busy)

    @property
    def p50(self) -> float:
        return pct(self.latencies, 50)

    @property
    def p99(self) -> float:
        return pct(self.latencies, 99)

    def describe(self) -> str:
        return (
            f"offered {self.offered:.0f} req/s, achieved {self.achieved:.0f} req/s; "
            f"p50 {self.p50:.1f} ms p99 {self.p99:.1f} ms; errors {self.errors}"
            + (f", unsent {self.unsent}" if self.unsent else "")
            + f"; load generator CPU {self.generator_cpu:.2f} core"
        )


def _client_loop(port, path, headers, schedule, deadline, out):
    """One connection sending requests on a fixed schedule (open loop: a request that has to
    wait for the previous one counts that wait in its latency). Stops at `deadline`."""
    client = RawHttpClient(port, path, headers)
    try:
        for i, due in enumerate(schedule):
            now = time.perf_counter()
            if now > deadline:
                out["unsent"].append(len(schedule) - i)
                return
            if due > now:
                time.sleep(due - now)
            status = client.get()
            done = time.perf_counter()
            out["latencies"].append((done - due) * 1000)
            out["last"].append(done)
            if status != 200:
                out["errors"].append(status)
    finally:
        client.close()


def process_cpu_seconds(pid: int) -> float:
    """CPU time one process (or thread) has run so far, in nanosecond resolution (Linux
    /proc/<pid>/schedstat; /proc's stat counts clock ticks of 10 ms)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def tree_cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """CPU time (user + system) used so far by a process and all its live descendants (Linux
    /proc): what a server costs per request, a figure a busy shared machine barely changes.
    `reaped`: with the time of their ended children too (a worker's horses, once waited for)."""
    ticks = os.sysconf("SC_CLK_TCK")
    last = 15 if reaped else 13  # utime, stime[, cutime, cstime] after the command name
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            stats[int(entry.name)] = (int(fields[1]), sum(map(int, fields[11:last])) / ticks)
    tree, total = {pid}, 0.0
    for _ in range(8):  # a few levels deep: uvicorn's reloader/workers, a worker's fork server
        tree |= {p for p, (ppid, _cpu) in stats.items() if ppid in tree}
    for p in tree:
        total += stats.get(p, (0, 0.0))[1]
    return total


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fixed_rate(port, path, headers, rate, seconds, connections=None) -> LoadResult:
    """Offer `rate` req/s for `seconds` over keep-alive connections, each request scheduled in
    advance. A saturated server makes latencies grow (queueing is counted, not hidden); the run
    is capped at twice its length plus a second, and what could not be sent is reported."""
    connections = connections or max(8, math.ceil(rate / 50))
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    deadline = start + 2 * seconds + 1
    out = {"latencies": [], "errors": [], "unsent": [], "last": []}
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(
                port,
                path,
                headers,
                [start + i / rate for i in range(k, total, connections)],
                deadline,
                out,
            ),
        )  # fmt: skip
        for k in range(connections)
    ]
    cpu0 = _cpu_seconds()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(out["last"], default=start) - start
    return LoadResult(
        offered=rate,
        achieved=len(out["latencies"]) / elapsed if elapsed > 0 else 0.0,
        latencies=out["latencies"],
        errors=len(out["errors"]),
        unsent=sum(out["unsent"]),
        generator_cpu=(_cpu_seconds() - cpu0) / max(elapsed, 1e-9),
    )


def closed_loop(port, path, headers, seconds, connections=4) -> float:
    """Max req/s: each connection sends its next request as soon as the answer arrives."""
    counts = []

    def loop():
        client, n, end = RawHttpClient(port, path, headers), 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            client.get()
            n += 1
        client.close()
        counts.append(n)

    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def sequential_latencies(port, path, headers, count) -> tuple[list, int]:
    """`count` requests one after another on one connection: per-request latency (ms), no load."""
    client, latencies, errors = RawHttpClient(port, path, headers), [], 0
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            status = client.get()
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += status != 200
    finally:
        client.close()
    return latencies, errors
