"""Which ffmpeg to run, and whether it can do what the product asks of it.

Candidates, in order: `EF_FFMPEG` (settings.FFMPEG_BINARY) when set, else `ffmpeg` on PATH, else
the binary shipped by imageio-ffmpeg. A distribution's ffmpeg may be too old or built without a
part the renders need (no libx264, no libass), while the shipped one has everything, so the
system's ffmpeg is used only when it passes the check below; otherwise the shipped one is, and
the reason is logged. `EF_FFMPEG` is never replaced silently: an explicit choice that fails the
check raises FFmpegUnavailable naming what is missing (a configuration error to fix, not to hide).

The check asks the binary itself (`-version`, `-filters`, `-encoders`, `-decoders`, `-muxers`,
`-demuxers`, run in parallel, once per binary and process) and compares the answers with what
the argv builders use (REQUIRED). Asking a binary what it has is part of finding it; media work is
run by `ffmpeg_run` alone. Media is probed with PyAV (its own libraries): there is no ffprobe.
"""

import functools
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings

from media_pipeline.ops.errors import FFmpegUnavailable

logger = logging.getLogger(__name__)

# The oldest ffmpeg the product is tested with (Debian 12's 5.1; `.ci/run` renders every preset
# with it). Versions are read from libavfilter's, which every build prints whatever its version
# string says (distribution suffixes, git snapshots "N-12345-g..."): 8.44 shipped with 5.1.
MIN_RELEASE = "5.1"
MIN_LIBAVFILTER = (8, 44)
QUERY_TIMEOUT = 20  # seconds; a binary that does not answer its -version in this time is refused

# What the argv builders use (media_pipeline/ops/*.py, the job types, the library's jobs).
REQUIRED: dict[str, frozenset[str]] = {
    "encoders": frozenset({"libx264", "aac", "mjpeg"}),  # renders; thumbnails and Gemini frames
    "decoders": frozenset({"h264", "aac", "pcm_s16le"}),  # common uploads; the TTS voice (WAV)
    "filters": frozenset(
        {
            # video: renders, variants, multi-video inserts, thumbnails, frames
            *("fps", "tpad", "scale", "crop", "setsar", "format", "trim", "concat", "split"),
            *("overlay", "setpts", "ass", "select"),
            # audio: mixes, ducking, voice-over, loudness, voice muting (the gain fed on stdin
            # times the track, copied to each channel), TTS padding
            *("aresample", "aformat", "apad", "atrim", "amix", "asplit", "volume", "asetpts"),
            *("loudnorm", "alimiter", "amultiply", "pan", "anullsrc"),
        }
    ),
    "muxers": frozenset({"mp4", "mov", "ipod", "matroska", "image2", "null"}),  # ipod: .m4a
    # lavfi: generated silence; f32le: voice muting's gain on stdin
    "demuxers": frozenset({"lavfi", "mov", "matroska", "wav", "f32le"}),
}
# Why a missing part matters, where its name does not say.
NOTES = {
    "ass": "built without libass: subtitles cannot be burned in",
    "libx264": "built without libx264: no H.264 encoding",
    "lavfi": "built without libavdevice's lavfi input",
}


class FFmpegSource(StrEnum):
    CONFIGURED = "configured (EF_FFMPEG)"
    SYSTEM = "system (on PATH)"
    BUNDLED = "bundled (imageio-ffmpeg)"


@dataclass(frozen=True)
class FFmpegInfo:
    """What one ffmpeg binary says it has."""

    path: str
    version: str = "unknown"  # as the binary prints it: "5.1.9-0+deb12u1", "n7.1.1"...
    libavfilter: tuple[int, int] | None = None
    components: dict[str, frozenset[str]] = field(default_factory=dict)
    error: str = ""  # set when the binary could not be run or did not answer as ffmpeg

    @property
    def problems(self) -> list[str]:
        """Why the product cannot use this binary; empty when it can."""
        if self.error:
            return [self.error]
        problems = []
        if self.libavfilter is None or self.libavfilter < MIN_LIBAVFILTER:
            problems.append(f"older than ffmpeg {MIN_RELEASE}")
        for kind, names in REQUIRED.items():
            for name in sorted(names - self.components.get(kind, frozenset())):
                note = f" ({NOTES[name]})" if name in NOTES else ""
                problems.append(f"no {kind[:-1]} {name}{note}")
        return problems

    @property
    def usable(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """The version and, when refused, why; no path."""
        problems = self.problems
        if self.error:
            return self.error
        return f"ffmpeg {self.version}" + (f" lacks: {'; '.join(problems)}" if problems else "")


@dataclass(frozen=True)
class FFmpegChoice:
    """The binary in use, where it comes from and why; the candidates refused before it."""

    info: FFmpegInfo
    source: FFmpegSource
    reason: str
    refused: tuple[tuple[FFmpegSource, FFmpegInfo], ...] = ()

    @property
    def path(self) -> str:
        return self.info.path


# --- asking a binary ----------------------------------------------------------------------------

_VERSION = re.compile(r"^ffmpeg version (\S+)", re.MULTILINE)
_LIBAVFILTER = re.compile(r"^libavfilter\s+(\d+)\.\s*(\d+)\.", re.MULTILINE)
_FILTER_LINE = re.compile(r"^\s*\S+\s+(\S+)\s+\S*->\S*", re.MULTILINE)
_SEPARATOR = re.compile(r"^\s*(-+)\s*$", re.MULTILINE)


def _listed_names(output: str) -> frozenset[str]:
    """Names of an `-encoders`/`-decoders`/`-muxers`/`-demuxers` list. Entries follow a line of
    dashes as wide as their flag column (" V....D libx264", " D  mov,mp4,...", " D d lavfi")."""
    separator = _SEPARATOR.search(output)
    if not separator:
        return frozenset()
    width = len(separator.group(1))
    names = set()
    for line in output[separator.end() :].splitlines():
        rest = line[1 + width :].split()
        if rest:
            names.update(rest[0].split(","))
    return frozenset(names)


def _filter_names(output: str) -> frozenset[str]:
    """Names of the `-filters` list (" ..C amix  N->A  Audio mixing.")."""
    return frozenset(_FILTER_LINE.findall(output))


_QUERIES = {
    "version": "-version",
    "filters": "-filters",
    "encoders": "-encoders",
    "decoders": "-decoders",
    "muxers": "-muxers",
    "demuxers": "-demuxers",
}


def _ask(path: str) -> dict[str, str]:
    """Every query's stdout, the processes run side by side (a dynamically linked ffmpeg takes
    ~0.1 s to start). Raises OSError or subprocess.SubprocessError when `path` cannot answer."""
    processes = {
        key: subprocess.Popen(
            [path, "-hide_banner", option],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for key, option in _QUERIES.items()
    }
    answers = {}
    try:
        for key, process in processes.items():
            out, _ = process.communicate(timeout=QUERY_TIMEOUT)
            if process.returncode != 0:
                raise subprocess.CalledProcessError(process.returncode, _QUERIES[key])
            answers[key] = out.decode("utf-8", "replace")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return answers


@functools.cache
def _inspect(path: str, _stamp: tuple[int, int]) -> FFmpegInfo:
    try:
        answers = _ask(path)
    except (OSError, subprocess.SubprocessError) as exc:
        kind = "did not answer in time" if isinstance(exc, subprocess.TimeoutExpired) else "failed"
        return FFmpegInfo(path, error=f"could not be run ({kind}: {type(exc).__name__})")
    version = _VERSION.search(answers["version"])
    if not version:
        return FFmpegInfo(path, error="does not answer -version as ffmpeg does")
    libavfilter = _LIBAVFILTER.search(answers["version"])
    components = {
        "filters": _filter_names(answers["filters"]),
        **{kind: _listed_names(answers[kind]) for kind in REQUIRED if kind != "filters"},
    }
    return FFmpegInfo(
        path,
        version=version.group(1),
        libavfilter=tuple(map(int, libavfilter.groups())) if libavfilter else None,
        components=components,
    )


def inspect_ffmpeg(path: str) -> FFmpegInfo:
    """What the binary at `path` (or a command name found on PATH) has. Asked once per process
    and binary (a binary replaced in place is asked again)."""
    found = shutil.which(path)
    if not found:
        return FFmpegInfo(path, error="not found, or not executable")
    stat = os.stat(found)
    return _inspect(found, (stat.st_mtime_ns, stat.st_size))


# --- choosing -----------------------------------------------------------------------------------


def bundled_path() -> str | None:
    """The binary shipped by imageio-ffmpeg, None on a platform the wheel has none for."""
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # no binary for this platform in the wheel
        return None


@functools.cache
def choose_ffmpeg() -> FFmpegChoice:
    """The ffmpeg to use (see the module's docstring), decided once per process and logged.
    Raises FFmpegUnavailable when there is none."""
    if settings.FFMPEG_BINARY:
        info = inspect_ffmpeg(settings.FFMPEG_BINARY)
        if not info.usable:
            message = f"the ffmpeg set by EF_FFMPEG cannot be used: {info.describe()}"
            raise FFmpegUnavailable(message)
        return _chosen(FFmpegChoice(info, FFmpegSource.CONFIGURED, "set by EF_FFMPEG"))
    system = shutil.which("ffmpeg")
    refused = ()
    if system:
        info = inspect_ffmpeg(system)
        if info.usable:
            reason = "ffmpeg on PATH passes the check"
            return _chosen(FFmpegChoice(info, FFmpegSource.SYSTEM, reason))
        logger.warning("not using the ffmpeg on PATH (%s): %s", system, info.describe())
        refused = ((FFmpegSource.SYSTEM, info),)
    bundled = bundled_path()
    info = inspect_ffmpeg(bundled) if bundled else FFmpegInfo("", error="not in the wheel")
    if not info.usable:
        tried = [*refused, (FFmpegSource.BUNDLED, info)]
        raise FFmpegUnavailable(
            "no usable ffmpeg: " + "; ".join(f"{source}: {i.describe()}" for source, i in tried)
        )
    reason = (
        f"ffmpeg on PATH refused: {refused[0][1].describe()}" if refused else "no ffmpeg on PATH"
    )
    return _chosen(FFmpegChoice(info, FFmpegSource.BUNDLED, reason, refused))


def _chosen(choice: FFmpegChoice) -> FFmpegChoice:
    logger.info(
        "using ffmpeg %s, %s at %s: %s",
        choice.info.version,
        choice.source,
        choice.path,
        choice.reason,
    )
    return choice


def ffmpeg_path() -> str:
    """The path of the ffmpeg to run. Raises FFmpegUnavailable when there is none."""
    return choose_ffmpeg().path


def forget_ffmpeg_choice() -> None:
    """Choose again at the next call (after EF_FFMPEG or PATH changed: tests)."""
    choose_ffmpeg.cache_clear()
    _inspect.cache_clear()
