"""die_with_parent: the kernel signals a child when its parent dies (no orphan left running)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from media_pipeline.ops.child_process import die_with_parent

pytestmark = pytest.mark.skipif(die_with_parent() is None, reason="prctl is Linux-only")

# A parent that starts `sleep` tied to it, prints the child's pid, then waits to be killed.
PARENT = """
import signal, subprocess, sys, time
from media_pipeline.ops.child_process import die_with_parent
child = subprocess.Popen(["sleep", "60"], preexec_fn=die_with_parent(signal.{sig}))
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_child_dies_with_its_parent(sig):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(sig=sig)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
