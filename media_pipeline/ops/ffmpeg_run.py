"""The one place that runs ffmpeg: argv in (built by pure functions), progress out.

Never a shell; the argument list goes straight to exec. Progress comes from ffmpeg's own
`-progress pipe:1` output; the caller maps the fraction into its job's stage.
"""

import collections
import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from media_pipeline.ops.child_process import die_with_parent
from media_pipeline.ops.encoder import bound_threads
from media_pipeline.ops.errors import FFmpegError
from media_pipeline.ops.ffmpeg_bin import FFmpegInfo, choose_ffmpeg

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 30


class ProcessTracker(Protocol):
    """Anything that wants to kill the running process on cancellation (the job context)."""

    def track_process(self, process: subprocess.Popen) -> None: ...

    def untrack_process(self, process: subprocess.Popen) -> None: ...


def in_dialect(args: Sequence[str], binary: FFmpegInfo) -> list[str]:
    """The caller's arguments as `binary` understands them. Builders write today's syntax;
    the one difference the product meets is a filter graph read from a file: `-/filter_complex`
    since ffmpeg 7.0, `-filter_complex_script` before (removed in 8.0)."""
    if binary.reads_option_files:
        return list(args)
    return ["-filter_complex_script" if arg == "-/filter_complex" else arg for arg in args]


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
        *bound_threads(in_dialect(args, binary)),
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
    argv = ffmpeg_argv(args, loglevel=loglevel)
    logger.debug("ffmpeg %s", argv)
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Killed with us (a SIGKILLed work horse): no orphan rendering into a removed temp
        # dir. run_ffmpeg waits in the thread that starts it, as the death signal requires.
        preexec_fn=die_with_parent(),
    )
    tail: collections.deque = collections.deque(maxlen=LOG_TAIL_LINES)
    drainer = threading.Thread(target=_drain, args=(process.stderr, tail), daemon=True)
    drainer.start()
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
    log_tail = "\n".join(tail)
    if returncode != 0:
        reason = "killed" if returncode < 0 else f"exit code {returncode}"
        last = tail[-1] if tail else "no output"
        raise FFmpegError(f"ffmpeg failed ({reason}): {last}", returncode, log_tail)
    return log_tail


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
