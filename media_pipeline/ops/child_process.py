"""Child processes that die with their parent (Linux): `prctl(PR_SET_PDEATHSIG)` in a preexec_fn.

Used for ffmpeg (`ffmpeg_run`), for a worker's fork server and its work horses
(`jobs.forkserver`, right after each fork) and for the embedded runner's children
(`editfactory.supervisor`): when the parent is killed (SIGKILL, the OOM killer), the kernel
signals the child instead of leaving an orphan behind (an ffmpeg rendering into a removed temp
dir, a horse running a job beside the worker's replacement, a worker nobody stops). Also what
every forked Python child here does: name itself (`set_process_name`) and end without returning
into its parent's code (`exit_after`).
"""

import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl():
    """libc's prctl(2), looked up once in the parent (the child must do as little as possible
    between fork and exec); None where it does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A preexec_fn having the kernel send `sig` to the child when its parent dies; None where
    prctl does not exist (Popen then runs nothing). The signal follows the *thread* that starts
    the child: start it from a thread that lives as long as the child is wanted."""
    if _PRCTL is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _PRCTL(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl: nobody wants the child
            os._exit(1)

    return preexec


_PR_SET_NAME = 15  # <linux/prctl.h>


def set_process_name(name: str) -> None:
    """The process name that `ps -o comm` and `top` show (15 bytes at most); cosmetic, so
    nothing happens where prctl does not exist."""
    if _PRCTL is not None:
        buffer = ctypes.create_string_buffer(name.encode()[:15])
        _PRCTL(_PR_SET_NAME, ctypes.addressof(buffer), 0, 0, 0)


def process_name() -> str:
    """This process's name as `set_process_name` sets it ("" where /proc does not exist)."""
    try:
        with open("/proc/self/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def exit_after(body: Callable[[], int | None]) -> NoReturn:
    """In a forked child: run `body`, then end the process with its exit code (an int it
    returns, else 0; a SystemExit's; 130 on Ctrl-C; 1 on any other exception, whose traceback
    is printed), its output flushed. Never returns into the code of the parent it was forked
    from."""
    code = 1
    try:
        result = body()
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - whatever it was, the child ends here
        traceback.print_exc()
    finally:
        flush_output()
        os._exit(code)


def flush_output() -> None:
    """Write out what stdout and stderr buffered: before a fork (or the child writes its
    parent's buffered output a second time) and before a child ends."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to keep
            pass
