"""The processes tests start (workers, servers): stopping them, killing a tree, watching a pid.
Without Django: tests/s3server.py uses it before the settings load."""

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path


def stop_process(
    process: subprocess.Popen,
    *,
    timeout: float = 10.0,
    kill: Callable[[subprocess.Popen], None] | None = None,
) -> None:
    """SIGTERM `process` and reap it; still running after `timeout` s, `kill` it (default:
    SIGKILL it alone) and reap it."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        (kill or _kill_alone)(process)


def _kill_alone(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


def descendants(pid: int) -> list[int]:
    """All processes below `pid` (RQ's work horse runs in its own process group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL `process` and every process below it, then reap it."""
    for pid in [*descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def comm(pid: int) -> str:
    """A process's name (/proc/<pid>/comm: `ef-worker`, `ef-forkserver`...); "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
