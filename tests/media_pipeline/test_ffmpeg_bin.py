"""Which ffmpeg the product runs: the capability check and the choice between EF_FFMPEG, the
system's ffmpeg and the bundled one (media_pipeline/ops/ffmpeg_bin.py).

Nothing is mocked: the binaries asked are real. A "system ffmpeg" that lacks something is a
shell script put first on PATH, which runs the bundled ffmpeg and edits its answers (an older
version, no libass, no loudnorm, no libx264), so the real output formats are parsed.
"""

import logging
import os
import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Job
from jobs.services import job_create
from jobs.status import JobStatus
from media_pipeline.checks import ffmpeg_check
from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import (
    FFmpegSource,
    bundled_path,
    choose_ffmpeg,
    ffmpeg_path,
    forget_ffmpeg_choice,
    inspect_ffmpeg,
)
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from tests.conftest import run_burst_worker

BUNDLED = bundled_path()
# What Ubuntu 22.04's apt installs: older than the oldest release the product is tested with.
OLD_VERSION = ("4.4.2-0ubuntu0.22.04.1", "7.110.100")


@pytest.fixture(autouse=True)
def fresh_choice():
    """Every test chooses again, and the tests after them find the usual choice."""
    forget_ffmpeg_choice()
    yield
    forget_ffmpeg_choice()


@pytest.fixture
def no_system_config(settings, monkeypatch):
    """EF_FFMPEG unset (CI may pin it for the whole suite)."""
    settings.FFMPEG_BINARY = ""
    return monkeypatch


def fake_ffmpeg(
    directory: Path,
    *,
    version: tuple[str, str] | None = None,
    drop: dict[str, str] | None = None,
    fail: bool = False,
) -> Path:
    """An `ffmpeg` in `directory` that is the bundled one with edited answers: `version`
    (release, libavfilter version) replaces what -version says, `drop` removes a name from the
    `-<list>` named (e.g. {"filters": "ass"}), `fail` makes every call exit 1."""
    directory.mkdir(parents=True, exist_ok=True)
    edits = []
    if version:
        release, lavfi = version
        edits.append(
            f'  -version) "{BUNDLED}" "$@" | sed -e "s/^ffmpeg version [^ ]*/ffmpeg version '
            f'{release}/" -e "s|^libavfilter .*|libavfilter {lavfi} / {lavfi}|" ;;'
        )
    for option, name in (drop or {}).items():
        edits.append(f'  -{option}) "{BUNDLED}" "$@" | grep -v " {name} " ;;')
    body = "exit 1" if fail else "\n".join(
        ['for arg; do last="$arg"; done', 'case "$last" in', *edits, f'  *) exec "{BUNDLED}" "$@" ;;', "esac"]
    )  # fmt: skip
    path = directory / "ffmpeg"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def put_on_path(monkeypatch, fake: Path) -> None:
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")


# --- the check ------------------------------------------------------------------------------------


def test_the_bundled_ffmpeg_passes_the_check():
    info = inspect_ffmpeg(BUNDLED)
    assert info.usable, info.problems
    assert info.version != "unknown" and info.libavfilter >= (8, 44)
    assert {"ass", "loudnorm", "alimiter"} <= info.components["filters"]
    assert {"libx264", "aac"} <= info.components["encoders"]
    assert {"mp4", "ipod", "null"} <= info.components["muxers"]
    assert "lavfi" in info.components["demuxers"]


@pytest.mark.parametrize(
    "edit, problem",
    [
        ({"version": OLD_VERSION}, "older than ffmpeg 5.1"),
        ({"drop": {"filters": "ass"}}, "no filter ass (built without libass"),
        ({"drop": {"filters": "loudnorm"}}, "no filter loudnorm"),
        ({"drop": {"encoders": "libx264"}}, "no encoder libx264 (built without libx264"),
        ({"drop": {"muxers": "ipod"}}, "no muxer ipod"),
    ],
    ids=["old", "no-libass", "no-loudnorm", "no-libx264", "no-m4a-muxer"],
)
def test_a_system_ffmpeg_lacking_something_is_refused_for_the_bundled_one(
    edit, problem, tmp_path, no_system_config, caplog
):
    fake = fake_ffmpeg(tmp_path / "bin", **edit)
    put_on_path(no_system_config, fake)
    assert [p for p in inspect_ffmpeg(str(fake)).problems if problem in p]

    with caplog.at_level(logging.INFO, logger="media_pipeline.ops.ffmpeg_bin"):
        choice = choose_ffmpeg()
    assert (choice.source, choice.path) == (FFmpegSource.BUNDLED, BUNDLED)
    assert ffmpeg_path() == BUNDLED
    assert choice.reason.startswith("ffmpeg on PATH refused") and problem in choice.reason
    [(source, refused)] = choice.refused
    assert source is FFmpegSource.SYSTEM and refused.path == str(fake)
    assert f"not using the ffmpeg on PATH ({fake})" in caplog.text and problem in caplog.text
    # `manage.py check` says so, as information: the product works.
    [message] = ffmpeg_check()
    assert message.id == "media_pipeline.I001" and problem in message.msg
    # And the renders do run, with the bundled ffmpeg.
    run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=d=0.1", "-f", "null", "-"])


def test_a_system_ffmpeg_that_passes_is_preferred(tmp_path, no_system_config):
    fake = fake_ffmpeg(tmp_path / "bin", version=("5.1.9-0+deb12u1", "8. 44.100"))
    put_on_path(no_system_config, fake)
    choice = choose_ffmpeg()
    assert (choice.source, choice.path, choice.refused) == (FFmpegSource.SYSTEM, str(fake), ())
    assert choice.info.version == "5.1.9-0+deb12u1" and choice.info.libavfilter == (8, 44)
    assert ffmpeg_check() == []


def test_without_a_system_ffmpeg_the_bundled_one_is_used(tmp_path, no_system_config):
    no_system_config.setenv("PATH", str(tmp_path))  # nothing called ffmpeg there
    choice = choose_ffmpeg()
    assert (choice.source, choice.path, choice.reason) == (
        FFmpegSource.BUNDLED,
        BUNDLED,
        "no ffmpeg on PATH",
    )


# --- EF_FFMPEG: used as set, never replaced silently ---------------------------------------------


def test_ef_ffmpeg_is_used_when_it_passes(settings, tmp_path):
    settings.FFMPEG_BINARY = str(fake_ffmpeg(tmp_path / "opt"))
    choice = choose_ffmpeg()
    assert (choice.source, choice.path) == (FFmpegSource.CONFIGURED, settings.FFMPEG_BINARY)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: fake_ffmpeg(d, version=OLD_VERSION), "older than ffmpeg 5.1"),
        (lambda d: fake_ffmpeg(d, drop={"filters": "ass"}), "no filter ass"),
        (lambda d: fake_ffmpeg(d, fail=True), "could not be run"),
        (lambda d: d / "missing" / "ffmpeg", "not found"),
    ],
    ids=["old", "no-libass", "failing", "missing"],
)
def test_a_failing_ef_ffmpeg_is_an_error_naming_what_is_missing(make, reason, settings, tmp_path):
    settings.FFMPEG_BINARY = str(make(tmp_path))
    with pytest.raises(FFmpegUnavailable, match="the ffmpeg set by EF_FFMPEG cannot be used") as e:
        ffmpeg_path()
    assert reason in str(e.value) and "/" not in str(e.value)  # no path: it reaches /health
    with pytest.raises(FFmpegUnavailable):
        run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=d=0.1", "-f", "null", "-"])
    [error] = ffmpeg_check()
    assert error.id == "media_pipeline.E001" and reason in error.msg and error.is_serious()


@pytest.mark.django_db(transaction=True)
def test_a_job_fails_at_once_saying_why_when_ef_ffmpeg_fails(settings, tmp_path, user):
    settings.FFMPEG_BINARY = str(fake_ffmpeg(tmp_path, drop={"filters": "ass"}))
    job = job_create(job_type="tts", params={"text": "Hello.", "provider": "offline"}, owner=user)
    run_burst_worker()  # its work horse is a fork of this process: same settings
    job = Job.objects.get(id=job.id)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)  # permanent: no retry
    assert "EF_FFMPEG" in job.error and "no filter ass" in job.error


# --- reporting -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_shows_the_version_and_source(client, no_system_config, tmp_path):
    no_system_config.setenv("PATH", str(tmp_path))
    body = client.get("/api/v1/health").json()
    version = inspect_ffmpeg(BUNDLED).version
    assert body["ffmpeg"] == {"ok": True, "detail": f"ffmpeg {version}, bundled (imageio-ffmpeg)"}


@pytest.mark.django_db
def test_health_says_what_a_failing_ef_ffmpeg_lacks_without_its_path(client, settings, tmp_path):
    settings.FFMPEG_BINARY = str(fake_ffmpeg(tmp_path / "opt", version=OLD_VERSION))
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and not body["ffmpeg"]["ok"]
    assert "older than ffmpeg 5.1" in body["ffmpeg"]["detail"]
    assert str(tmp_path) not in response.content.decode() and "/" not in body["ffmpeg"]["detail"]


def test_ffmpeg_check_command_lists_each_candidate_and_the_one_in_use(
    tmp_path, no_system_config, capsys
):
    fake = fake_ffmpeg(tmp_path / "bin", drop={"filters": "ass"})
    put_on_path(no_system_config, fake)
    call_command("ffmpeg_check")
    out = capsys.readouterr().out
    assert "configured (EF_FFMPEG): none" in out
    assert f"system (on PATH): {fake}\n" in out and "no filter ass" in out and "REFUSED" in out
    assert f"bundled (imageio-ffmpeg): {BUNDLED}\n" in out
    assert f"In use: ffmpeg {inspect_ffmpeg(BUNDLED).version}, bundled (imageio-ffmpeg)" in out
    with pytest.raises(CommandError, match="expected the system .on PATH. ffmpeg, but bundled"):
        call_command("ffmpeg_check", expect="system")
