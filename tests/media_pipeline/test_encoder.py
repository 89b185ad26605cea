"""The encoder bounds (EF_ENCODER_THREADS, EF_ENCODER_LOOKAHEAD; media_pipeline/ops/encoder.py):
every libx264 encode's argv carries them, the runner bounds every input's decoder and the filter
graphs, and real encodes run with what x264 itself reports it used (the options string it writes
into the stream)."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from media_pipeline.library.jobs.render import build_cut_args
from media_pipeline.ops.encoder import DECODER_THREADS_MAX, FRAME_THREADS_MAX, x264_params
from media_pipeline.ops.ffmpeg_run import ffmpeg_argv, run_ffmpeg
from media_pipeline.ops.multi_video import build_multi_video_args
from media_pipeline.ops.presets import Preset, get_preset
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.render import Piece, RenderSpec, build_render_args


@pytest.fixture
def bounds(settings):
    settings.ENCODER_THREADS, settings.ENCODER_LOOKAHEAD = 3, 7
    return settings


def _x264_params(args: list[str]) -> str:
    return args[args.index("-x264-params") + 1]


def test_x264_params_follow_the_settings_and_never_raise_a_presets_lookahead(bounds):
    sliced = "threads=3:sliced-threads=1"  # more threads than FRAME_THREADS_MAX
    assert x264_params("medium") == f"{sliced}:rc-lookahead=7:sync-lookahead=0"
    assert x264_params("ultrafast") == f"{sliced}:rc-lookahead=0:sync-lookahead=0"
    bounds.ENCODER_LOOKAHEAD = 40
    assert x264_params("veryfast") == f"{sliced}:rc-lookahead=10:sync-lookahead=0"
    assert x264_params("slow") == f"{sliced}:rc-lookahead=40:sync-lookahead=0"
    bounds.ENCODER_THREADS = FRAME_THREADS_MAX
    assert x264_params("slow") == f"threads={FRAME_THREADS_MAX}:rc-lookahead=40:sync-lookahead=0"


def test_every_libx264_builder_carries_the_bounds(bounds):
    render = build_render_args(
        RenderSpec(pieces=(Piece("a.mp4", 0, 2),), preset=get_preset("tiktok"), output="o.mp4")
    )
    multi = build_multi_video_args(
        main="m.mp4", size=(320, 240), secondaries=[], inserts=[], output="o.mp4", subtitles=None
    )
    cut = build_cut_args("in.mp4", "out.mp4", start=0, end=1)
    for args, preset in ((render, "medium"), (multi, "medium"), (cut, "veryfast")):
        assert "libx264" in args
        assert _x264_params(args) == x264_params(preset)
        assert "threads=3:" in _x264_params(args)


def test_the_runner_bounds_every_decoder_and_the_filter_graphs(bounds):
    argv = ffmpeg_argv(["-ss", "1", "-i", "a.mp4", "-f", "lavfi", "-i", "sine", "out.mp4"])
    assert argv[argv.index("-filter_threads") + 1] == "3"
    assert argv[argv.index("-filter_complex_threads") + 1] == "3"
    inputs = [i for i, arg in enumerate(argv) if arg == "-i"]
    assert len(inputs) == 2
    assert all(argv[i - 2 : i] == ["-threads", str(DECODER_THREADS_MAX)] for i in inputs)
    # A caller that chose threads itself keeps its choice.
    own = ffmpeg_argv(["-threads", "1", "-i", "a.mp4", "out.mp4"])
    assert own.count("-threads") == 1 and own[own.index("-threads") + 1] == "1"


def _x264_options_in(path) -> dict[str, str]:
    """The options x264 wrote into the stream (its SEI: "... options: cabac=1 ref=3 ...")."""
    found = re.search(rb"x264 - core .*? options: ([^\x00]*)", path.read_bytes())
    assert found, "no x264 options string in the output"
    pairs = (item.split("=", 1) for item in found.group(1).decode().split() if "=" in item)
    return dict(pairs)


@pytest.mark.parametrize(("threads", "lookahead"), [(1, 0), (1, 4), (4, 10)])
def test_renders_run_with_the_threads_and_lookahead_set(
    media, tmp_path, settings, threads, lookahead
):
    settings.ENCODER_THREADS, settings.ENCODER_LOOKAHEAD = threads, lookahead
    preset = Preset("small", "Small", 180, 320, 25, 28, 1000, x264_preset="medium")
    out = tmp_path / "out.mp4"
    spec = RenderSpec(
        pieces=(Piece(str(media.video(seconds=2)), 0, 2),), preset=preset, output=str(out)
    )
    run_ffmpeg(build_render_args(spec))
    info = probe_media(out)
    assert (info.width, info.height) == (180, 320)
    assert info.duration == pytest.approx(2, abs=0.1)
    used = _x264_options_in(out)
    assert used["threads"] == str(threads)
    assert used["sliced_threads"] == ("1" if threads > FRAME_THREADS_MAX else "0")
    assert used["rc_lookahead"] == str(lookahead)


@pytest.mark.parametrize(
    ("name", "value"),
    [("EF_ENCODER_THREADS", "0"), ("EF_ENCODER_THREADS", "65"), ("EF_ENCODER_LOOKAHEAD", "-1")],
)
def test_out_of_range_settings_are_refused_naming_the_variable(name, value):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "editfactory.settings", name: value},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=django_settings.BASE_DIR,
    )
    assert result.returncode != 0
    assert name in result.stderr
