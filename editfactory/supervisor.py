"""A tiny supervisor for the embedded runner: start children, restart the ones that die,
stop them all (and leave none behind) on Ctrl-C or SIGTERM. A child is a command started as a
new process (`argv`) or a function run in a fork of the supervisor (`target`, see
editfactory/forking.py)."""

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from editfactory.forking import ForkedProcess, fork_child
from media_pipeline.ops.child_process import die_with_parent

logger = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | ForkedProcess | None = None
    started_at: float = 0.0
    quick_deaths: int = field(default=0)
    target: Callable[[], int | None] | None = None  # run in a fork instead of starting argv

    def start(self) -> None:
        if self.target is not None:  # the same set-up as below, in editfactory.forking
            self.process = fork_child(self.target, f"ef-{self.name.split('-')[0]}")
        else:
            # SIGTERM when the supervisor dies: the children shut down as on Ctrl-C. Their own
            # session: a terminal's Ctrl-C reaches the supervisor alone, which stops them in
            # order (no child is interrupted half-way through its start, printing a traceback).
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                preexec_fn=die_with_parent(signal.SIGTERM),
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(self, children: list[Child], *, stop_timeout: float = 10.0):
        self.children = children
        self.stop_timeout = stop_timeout
        self._stopping = False

    def _request_stop(self, signum, frame) -> None:
        self._stopping = True

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for child in self.children:
                child.start()
            while not self._stopping:
                time.sleep(0.5)
                if self._restart_dead():
                    return 1
            return 0
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _restart_dead(self) -> bool:
        """Restart children that exited; True when one keeps dying at once (give up)."""
        for child in self.children:
            if child.alive() or self._stopping:
                continue
            lived = time.monotonic() - child.started_at
            child.quick_deaths = child.quick_deaths + 1 if lived < 10 else 0
            logger.warning(
                "%s exited with %s after %.0f s", child.name, child.process.returncode, lived
            )
            if child.quick_deaths >= 3:
                logger.error("%s keeps exiting at start; stopping everything", child.name)
                return True
            child.start()
        return False

    def stop_all(self) -> None:
        """SIGTERM everyone (RQ workers finish or abandon their job), then SIGTERM again (RQ's cold
        shutdown kills the work horse), then SIGKILL whatever is left."""
        running = [c for c in self.children if c.alive()]
        for sig_round, grace in (
            (signal.SIGTERM, self.stop_timeout / 2),
            (signal.SIGTERM, self.stop_timeout / 2),
        ):
            for child in running:
                if child.alive():
                    child.process.send_signal(sig_round)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(c.alive() for c in running):
                time.sleep(0.1)
            time.sleep(1.1)  # RQ ignores a second signal that arrives within one second
        for child in running:
            if child.alive():
                logger.warning("killing %s", child.name)
                child.process.kill()
            if child.process is not None:
                child.process.wait()
