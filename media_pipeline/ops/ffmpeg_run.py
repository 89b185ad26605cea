"""The one place that runs ffmpeg: argv in (built by pure functions), progress out.

Never a shell; the argument list goes straight to exec. Progress comes from ffmpeg's own
`-progress pipe:1` output; the caller maps the fraction into its job's stage.
"""

import collections
import logging
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from media_pipeline.ops.child_process import die_with_parent
from media_pipeline.ops.encoder import bound_threads
from media_pipeline.ops.errors import FFmpegError
from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 30


class ProcessTracker(Protocol):
    """Anything that wants to kill the running process on cancellation (the job context)."""

    def track_process(self, process: subprocess.Popen) -> None: ...

    def untrack_process(self, process: subprocess.Popen) -> None: ...


def ffmpeg_argv(args: Sequence[str], *, loglevel: str = "warning") -> list[str]:
    """The full argv: the chosen ffmpeg, our fixed global options, then the caller's arguments
    with their threads bounded (`encoder.bound_threads`). Raises FFmpegUnavailable when there is
    no usable ffmpeg."""
    binary = choose_ffmpeg().info
    return [
        binary.path,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        loglevel,
        "-progress",
        "pipe:1",
        "-y",
        *bound_threads(args),
    ]


def _drain(stream, tail: collections.deque) -> None:
    for raw in iter(stream.readline, b""):
        tail.append(raw.decode("utf-8", "replace").rstrip())
    stream.close()


def _parse_progress_line(line: str) -> tuple[str, str] | None:
    key, sep, value = line.strip().partition("=")
    return (key, value) if sep else None


def run_ffmpeg(
    args: Sequence[str],
    *,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    tracker: ProcessTracker | None = None,
    timeout: float | None = None,
    loglevel: str = "warning",
) -> str:
    """Run ffmpeg to completion; returns the tail of its log. Raises FFmpegError on failure
    (including being killed by a cancellation or the timeout). `loglevel="info"` is for callers
    that read a filter's report from the tail (loudnorm's JSON, printed last, at info level)."""
    process, tail, drainer = _start(ffmpeg_argv(args, loglevel=loglevel), stdin=subprocess.DEVNULL)
    timer = threading.Timer(timeout, process.kill) if timeout else None
    if timer:
        timer.start()
    if tracker:
        tracker.track_process(process)
    try:
        _follow_progress(process, duration, on_progress)
        returncode = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        if timer:
            timer.cancel()
        if tracker:
            tracker.untrack_process(process)
        drainer.join(timeout=5)
    return _outcome(returncode, tail)


def _start(
    argv: list[str], *, stdin
) -> tuple[subprocess.Popen, collections.deque, threading.Thread]:
    """The process, the tail of its log and the thread collecting it."""
    logger.debug("ffmpeg %s", argv)
    process = subprocess.Popen(
        argv,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Killed with us (a SIGKILLed work horse): no orphan rendering into a removed temp
        # dir. Callers wait in the thread that starts it, as the death signal requires.
        preexec_fn=die_with_parent(),
    )
    tail: collections.deque = collections.deque(maxlen=LOG_TAIL_LINES)
    drainer = threading.Thread(target=_drain, args=(process.stderr, tail), daemon=True)
    drainer.start()
    return process, tail, drainer


def _outcome(returncode: int, tail: collections.deque) -> str:
    """The log's tail, or FFmpegError when ffmpeg failed."""
    log_tail = "\n".join(tail)
    if returncode != 0:
        reason = "killed" if returncode < 0 else f"exit code {returncode}"
        last = tail[-1] if tail else "no output"
        raise FFmpegError(f"ffmpeg failed ({reason}): {last}", returncode, log_tail)
    return log_tail


class FedFFmpeg:
    """An ffmpeg that reads an input from `pipe:0`: the bytes of `source`, an iterable that a
    thread of its own consumes while the caller goes on (the muting gain, computed as far as
    the detection has made it final). `wait` waits a while, `finish` gives the outcome; `abort`
    (or leaving it as a context manager by an exception) kills it. A source waiting on the
    caller must be released by the caller before `abort` (the thread is joined).

    ffmpeg's progress is read by another thread into `fraction`, which the caller reports from
    its own thread (a job context writes progress to the database, from the thread that owns
    the connection)."""

    def __init__(self, args, source: Iterable[bytes], *, duration=None, tracker=None, timeout=None):
        argv = ffmpeg_argv(args)
        self.process, self._tail, self._drainer = _start(argv, stdin=subprocess.PIPE)
        self.fraction = 0.0
        self.source_error: Exception | None = None
        self._tracker, self._duration = tracker, duration
        self._writer = threading.Thread(target=self._write, args=(source,), daemon=True)
        self._reader = threading.Thread(target=self._read_progress, daemon=True)
        self._writer.start()
        self._reader.start()
        self._timer = threading.Timer(timeout, self.process.kill) if timeout else None
        if self._timer:
            self._timer.start()
        if tracker:
            tracker.track_process(self.process)

    def _write(self, source: Iterable[bytes]) -> None:
        """Every block, then the end of the input. ffmpeg no longer reading (dead, or done with
        that input: its exit status says which) ends the writing; a source that fails kills
        ffmpeg, and `finish` raises the source's error."""
        stdin = self.process.stdin
        try:
            for data in source:
                stdin.write(data)
        except OSError:  # BrokenPipeError
            pass
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread by finish()
            self.source_error = exc
            self.process.kill()
        finally:
            getattr(source, "close", lambda: None)()  # a generator's own cleanup, now
            try:
                stdin.close()
            except OSError:
                pass

    def _read_progress(self) -> None:
        _follow_progress(self.process, self._duration, self._set_fraction)

    def _set_fraction(self, fraction: float) -> None:
        self.fraction = fraction

    def wait(self, timeout: float | None = None) -> bool:
        """Whether ffmpeg has ended (waiting at most `timeout` seconds). The end is seen when
        its progress output closes, at once (`Popen.wait` with a timeout polls: up to 50 ms
        late on each call)."""
        self._reader.join(timeout)
        if self._reader.is_alive():
            return False
        self.process.wait()
        return True

    def finish(self) -> str:
        """Once the source is exhausted and ffmpeg has ended: its log's tail. Raises the
        source's error, or FFmpegError when ffmpeg failed."""
        returncode = self.process.wait()
        self._join()
        if self.source_error is not None:
            raise self.source_error
        return _outcome(returncode, self._tail)

    def _join(self) -> None:
        for thread in (self._writer, self._reader):
            thread.join(timeout=5)
        if self._timer:
            self._timer.cancel()
        if self._tracker:
            self._tracker.untrack_process(self.process)
        self._drainer.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def abort(self) -> None:
        """Kill ffmpeg and let its threads end (the caller reports its own error)."""
        self.process.kill()
        self.process.wait()
        self._join()  # killed: the caller's error is the one to report


def _follow_progress(process, duration, on_progress) -> None:
    for raw in iter(process.stdout.readline, b""):
        if on_progress is None or not duration:
            continue
        parsed = _parse_progress_line(raw.decode("ascii", "replace"))
        if not parsed:
            continue
        key, value = parsed
        if key == "out_time_us" and value.lstrip("-").isdigit():
            on_progress(min(1.0, max(0.0, int(value) / 1e6 / duration)))
        elif key == "progress" and value == "end":
            on_progress(1.0)
    process.stdout.close()


# Characters with a meaning inside one filter's option value (level 1: ':' separates options)
# and inside a filtergraph description (level 2: ',' ';' '[' ']' separate filters and links);
# see "Notes on filtergraph escaping" in ffmpeg-filters(1). '=' is escaped too, as ffmpeg-python
# does, so both ways of building a filter give the same string.
_OPTION_SPECIAL = frozenset("\\':=")
_GRAPH_SPECIAL = frozenset("\\'[],;")
_TRIMMED_CHARS = " \n\t\r"  # av_get_token() trims these at both ends unless escaped


def _backslash_escape(text: str, special: frozenset) -> str:
    lead = len(text) - len(text.lstrip(_TRIMMED_CHARS))
    trail = len(text.rstrip(_TRIMMED_CHARS))
    return "".join(
        "\\" + char if char in special or i < lead or i >= trail else char
        for i, char in enumerate(text)
    )


def escape_filter_value(text: str) -> str:
    """`text` as one option value of a hand-written filtergraph string (`-vf`/`-filter_complex`):
    `f"ass=filename={escape_filter_value(path)}"` reads exactly `path` whatever it contains
    (spaces, quotes, ':', ',', '[', ']', backslashes...). Both escaping levels are applied.

    Not needed for filters built with ffmpeg-python's `.filter(name, key=value)`, which escapes
    the same way itself. drawtext adds a third level of its own (`%{...}` expansion): give it
    `expansion=none` so its text is taken literally."""
    return _backslash_escape(_backslash_escape(text, _OPTION_SPECIAL), _GRAPH_SPECIAL)
