"""A worker's fork server: the process its work horses are forked from.

Why: a fork marks every page of the forking process copy-on-write, in the parent as in the
child, until the child ends; the first write to each page afterwards costs a page fault. A worker
that forked each horse itself paid that on every page its claim and record touched, every job,
and its horse on every page the worker's claims and reconnects had scattered (docs/benchmarks.md,
Engine: ~2,500 faults per job in the worker, ~2,400 in each horse, against raw RQ's ~800 and
~1,350).
The fork server is forked once, when the worker starts, before the worker opens any database
connection; it then only forks horses and reports how each one ended. The worker never forks
again: its pages stay its own, and its database connection, SQLite's included, lasts its life
without ever crossing a fork (SQLite forbids that).

Protocol, over one Unix stream socket: the worker sends a request (8-byte length, then bytes);
the server hands it to a horse that runs `run_horse(request)`, answers its pid, waits for it and
sends how it ended (pid, wait status, rusage). One horse at a time, as RQ's worker runs them.

A spare horse: the server forks each horse ahead, before its request exists (`ps` shows it as
`ef-spare-horse`, in a process group of its own, blocked reading a pipe), and forks the next one
while the last one runs. A request is written to the spare's pipe, so the fork (~5 ms of kernel
work on a 2-core VM, docs/benchmarks.md) is off the job's path. The spare is a copy of the server
as a horse forked on request would be: the server's state does not change between requests.

Lifetimes: the server dies with its worker (SIGKILL from the kernel, `die_with_parent`) and each
horse with the server, so a killed worker takes its horse down as before. The server ignores
SIGINT and SIGTERM (a terminal's Ctrl-C or a signal to the worker's group must not kill a horse
during the worker's warm shutdown); it exits when the worker closes its end.
"""

import os
import resource
import select
import signal
import socket
import struct
from collections.abc import Callable

from media_pipeline.ops.child_process import (
    die_with_parent,
    exit_after,
    flush_output,
    process_name,
    set_process_name,
)

NAME = "ef-forkserver"
SPARE_NAME = "ef-spare-horse"
_LENGTH = struct.Struct("!Q")
_STARTED = struct.Struct("!q")
_ENDED = struct.Struct("!qq2d14q")  # pid, wait status, the 16 fields of its rusage


class ForkServerGone(Exception):
    """The fork server had ended (killed) before a request was sent: the worker starts another
    one and sends the request to it."""


class HorseLost(Exception):
    """The fork server ended after a request was sent to it, before it said which horse it
    forked: a horse may have started (and died with the server), so the request is never sent
    again; its job is left to the rescue, as a horse that died."""


class ForkServer:
    """The worker's side. `run_horse(request)` runs in each horse (its return ends the horse
    with exit code 0, as RQ's own horse does)."""

    def __init__(self, run_horse: Callable[[bytes], None]):
        self._run_horse = run_horse
        self._sock: socket.socket | None = None
        self.pid = 0

    @property
    def running(self) -> bool:
        return self._sock is not None

    def start(self) -> None:
        """Fork the server. The caller has closed what must not cross a fork (SQLite)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        preexec = die_with_parent(signal.SIGKILL)
        flush_output()
        pid = os.fork()
        if pid == 0:
            ours.close()
            exit_after(lambda: _serve(theirs, self._run_horse, preexec))
        theirs.close()
        self._sock, self.pid = ours, pid

    def fork(self, request: bytes) -> int:
        """Have a horse run `request` (the spare the server forked ahead); returns its pid."""
        if not self._alive():
            self.stop()
            raise ForkServerGone("the fork server is not running")
        try:
            self._sock.sendall(_LENGTH.pack(len(request)) + request)
            (pid,) = _STARTED.unpack(_recv_exact(self._sock, _STARTED.size))
        except (OSError, EOFError) as exc:
            self.stop()
            raise HorseLost(f"the fork server ended while forking a horse ({exc})") from exc
        return pid

    def _alive(self) -> bool:
        if self._sock is None:
            return False
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def wait(
        self, horse_pid: int, timeout: float | None = None
    ) -> tuple[int, int, resource.struct_rusage | None] | None:
        """Block until the horse ends: (pid, wait status, rusage) as `os.wait4` gives them;
        None when `timeout` seconds passed first. A server killed meanwhile took its horse down
        with it (SIGKILL): that is what is returned. A signal handler that raises (RQ's
        monitoring interval, a token's time limit) interrupts the wait before any of the
        answer is read."""
        if self._sock is None:
            return horse_pid, signal.SIGKILL, None
        if timeout is not None and not select.select([self._sock], [], [], timeout)[0]:
            return None
        try:
            pid, status, *rusage = _ENDED.unpack(_recv_exact(self._sock, _ENDED.size))
        except (OSError, EOFError):
            self.stop()
            return horse_pid, signal.SIGKILL, None
        return pid, status, resource.struct_rusage(rusage)

    def stop(self) -> None:
        """Close the worker's end (the server exits) and reap the server."""
        if self._sock is None:
            return
        self._sock.close()
        self._sock = None
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass  # reaped already (found dead by `_alive`)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    return _read_exact(lambda wanted: sock.recv(wanted, socket.MSG_WAITALL), size)


def _read_exact(read: Callable[[int], bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = read(size - len(data))
        if not chunk:
            raise EOFError("the other end closed")
        data += chunk
    return data


def _serve(sock: socket.socket, run_horse: Callable[[bytes], None], preexec) -> None:
    """The server's loop, until the worker closes its end (or dies)."""
    if preexec is not None:
        preexec()  # SIGKILL when the worker dies
    for ignored in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(ignored, signal.SIG_IGN)  # SIGUSR1: until a horse takes it
    worker_name = process_name()
    set_process_name(NAME)
    horse_preexec = die_with_parent(signal.SIGKILL)

    def fork_spare() -> _Spare:
        return _Spare.fork(sock, run_horse, horse_preexec, worker_name)

    spare = fork_spare()
    try:
        while True:
            try:
                (length,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
                request = _recv_exact(sock, length)
            except (OSError, EOFError):
                return  # the worker closed its end (or died)
            horse, spare = spare, None
            if not horse.take(request):  # killed while it waited: another one, at once
                horse.reap()
                horse = fork_spare()
                horse.take(request)  # failing too, it died: the wait below tells the worker
            told = _send(sock, _STARTED.pack(horse.pid))
            spare = fork_spare()  # while the horse runs
            _, status, rusage = os.wait4(horse.pid, 0)
            if not (told and _send(sock, _ENDED.pack(horse.pid, status, *rusage))):
                return
    finally:
        if spare is not None:
            spare.dismiss()


class _Spare:
    """The server's side of a horse forked ahead: its pid and the pipe its request goes down."""

    def __init__(self, pid: int, pipe: int):
        self.pid = pid
        self._pipe: int | None = pipe

    @classmethod
    def fork(cls, sock: socket.socket, run_horse, preexec, name: str) -> "_Spare":
        """Fork a spare horse that will run `run_horse(request)` under its worker's `name`."""
        read_end, write_end = os.pipe()
        flush_output()
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.close(write_end)
            _run_horse_process(run_horse, read_end, preexec, name)
        os.close(read_end)
        try:
            os.setpgid(pid, pid)  # the horse's own group, before the worker can signal it
        except OSError:
            pass  # the spare did it first (or already ended)
        return cls(pid, write_end)

    def take(self, request: bytes) -> bool:
        """Send the spare its request and close the pipe; False when it is gone (killed)."""
        data = memoryview(_LENGTH.pack(len(request)) + request)
        try:
            while data:
                data = data[os.write(self._pipe, data) :]
        except OSError:  # EPIPE: nobody reads it any more
            return False
        finally:
            self._close()
        return True

    def dismiss(self) -> None:
        """End an unused spare (its read sees the pipe closed) and reap it."""
        self._close()
        self.reap()

    def reap(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def _close(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def _run_horse_process(run_horse, pipe: int, preexec, name: str) -> None:
    """In a spare horse: set it up as RQ's forked horse was, wait for its request on `pipe`,
    run it, exit. The pipe closed before any request (the server stopping) ends it quietly."""

    def horse() -> int | None:
        os.setpgrp()
        if preexec is not None:
            preexec()  # SIGKILL when the server dies (so when the worker does)
        set_process_name(SPARE_NAME)
        read = lambda wanted: os.read(pipe, wanted)  # noqa: E731
        try:
            (length,) = _LENGTH.unpack(_read_exact(read, _LENGTH.size))
        except EOFError:
            return 0  # dismissed
        request = _read_exact(read, length)
        os.close(pipe)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        set_process_name(name)
        run_horse(request)
        return None

    exit_after(horse)
