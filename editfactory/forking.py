"""The children of `manage.py up`, forked from one preloaded parent instead of each starting an
interpreter and importing Django, the apps, the API and the media libraries again.

`up` loads everything its children run once (`preload`), freezes it out of the garbage
collector's reach and forks each child from it: the pages stay shared (copy-on-write) until a
child writes to them, so the tree holds one copy of the code instead of one per process
(bench/footprint.py: the idle PSS of the whole tree). A child is started by `fork_child` and
behaves as the separately started processes did: its own session, SIGTERM when the supervisor
dies, default signal handlers, and an exit code instead of a return into the supervisor's loop.
Each one names itself (`/proc/<pid>/comm`, shown by `ps -o comm` and `top`): ef-web, ef-worker,
ef-maintenance.
"""

import gc
import importlib
import os
import signal
import socket
from collections.abc import Callable

from media_pipeline.ops.child_process import (
    die_with_parent,
    exit_after,
    flush_output,
    set_process_name,
)


class ForkedProcess:
    """A forked child with the part of `subprocess.Popen`'s interface the supervisor uses."""

    def __init__(self, target: Callable[[], int | None], name: str):
        preexec = die_with_parent(signal.SIGTERM)
        flush_output()
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:
            _run_child(target, name, preexec)  # never returns

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _run_child(target: Callable[[], int | None], name: str, preexec) -> None:
    """In the child: set it up as a started process would be, run `target`, exit."""

    def child() -> int | None:
        os.setsid()  # a terminal's Ctrl-C reaches the supervisor alone, which stops us in order
        if preexec is not None:
            preexec()  # SIGTERM when the supervisor dies
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        set_process_name(name)
        return target()

    exit_after(child)


def fork_child(target: Callable[[], int | None], name: str) -> ForkedProcess:
    return ForkedProcess(target, name)


def freeze_for_children() -> None:
    """Before the first fork: no database connection a child would share, and every object
    alive now out of the collector's reach. A collection in a child would otherwise write to
    the header of each object it scans, copying the shared pages it scans into the child."""
    from django.db import connections

    connections.close_all()
    gc.collect()
    gc.freeze()


# Sockets bound by the parent for the web children: the other children close their copy.
_LISTENING: list[socket.socket] = []


class WebServer:
    """A uvicorn server process: every web child accepts on the one socket the parent bound
    (as uvicorn's own --workers processes do), with the app and uvicorn's protocol and loop
    modules imported once in the parent."""

    def __init__(self, **config):
        self.options = config
        self.config = None
        self.sock: socket.socket | None = None

    def prepare(self) -> None:
        if self.config is not None:
            return
        import uvicorn

        from editfactory.asgi import application

        self.config = uvicorn.Config(application, **self.options)
        self.config.load()
        try:
            self.sock = self.config.bind_socket()
        except SystemExit:  # uvicorn logged why (the address is in use...)
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}") from None
        _LISTENING.append(self.sock)

    def __call__(self) -> None:
        import uvicorn

        uvicorn.Server(self.config).run(sockets=[self.sock])


class ManagementCommand:
    """A management command run in a child (`rqworker`, `maintenance`), its module imported
    once in the parent."""

    def __init__(
        self,
        name: str,
        *args,
        preload: tuple[str, ...] = (),
        warm: Callable[[], None] | None = None,
        **options,
    ):
        self.name, self.args, self.options = name, args, options
        self.modules = preload  # what the command imports by name when it runs
        self.warm = warm  # loads what its work needs beyond imports (once, before the forks)
        self.command = None

    def prepare(self) -> None:
        from django.core.management import get_commands, load_command_class

        if self.command is None:
            self.command = load_command_class(get_commands()[self.name], self.name)
            for module in self.modules:
                importlib.import_module(module)
            if self.warm is not None:
                self.warm()

    def __call__(self) -> None:
        from django.core.management import call_command

        for sock in _LISTENING:
            sock.close()
        call_command(self.command, *self.args, **self.options)


def preload(targets) -> None:
    """In the parent, before the first fork: everything the children run, loaded once."""
    for target in targets:
        prepare = getattr(target, "prepare", None)
        if prepare is not None:
            prepare()
    freeze_for_children()
