"""Output quality of final renders, measured on the files with the real ffmpeg: loudness
normalised to the preset's target (EBU R128 integrated loudness and true peak), the exact preset
format, and no black or frozen frames introduced by cuts.

Speed: the loop over every preset renders with `x264_preset="ultrafast"` (same frame size, fps,
codecs, pixel format and audio chain as the real presets); the render_clip job test renders with an
unmodified preset ("medium") through a real worker.
"""

import math
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.files import File

from jobs import services
from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.jobtypes import render_clip as render_clip_module
from media_pipeline.jobtypes.render_clip import ClipRecipe, render_clip_file
from media_pipeline.library.models import Export, ExportPreset
from media_pipeline.ops import loudness
from media_pipeline.ops.errors import MediaError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.presets import LOUDNESS_OFF, PRESETS, Preset
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.render import AudioMode, Piece, RenderSpec, build_render_args
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_render.conftest import API, add_content, make_clip, post_json
from tests.media_pipeline.quality import (
    black_frames,
    frozen_frames,
    measure_loudness,
    stream_format,
)
from tests.stored import stored_path

CUTS = [{"start": 0.3, "end": 1.3}, {"start": 2.0, "end": 3.2}]  # two cuts, 2.2 s in all
CUT_LENGTH = 2.2
QUIET_AMPLITUDE, LOUD_AMPLITUDE = 0.0178, 0.95  # stereo 440 Hz: about -35 LUFS / -1 LUFS
CLICKS = "+0.9*lt(mod(t\\,0.25)\\,0.003)*sin(2*PI*1500*t)"  # appended to an aevalsrc expression


def _generate(out: Path, video: str, audio: str | None) -> Path:
    args = ["-f", "lavfi", "-i", video]
    if audio:
        args += ["-f", "lavfi", "-i", audio, "-c:a", "aac", "-b:a", "192k"]
    run_ffmpeg([*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)])
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """4 s of testsrc2 (every frame differs, so a repeated frame is a real freeze) at the presets'
    30 fps, with a stereo tone far from the target: quiet, loud (peak near 0 dBFS), or faint
    noise; and one without audio."""
    directory = tmp_path_factory.mktemp("quality")
    video = "testsrc2=size=320x240:rate=30:duration=4"

    def tone(amplitude, extra=""):
        return f"aevalsrc={amplitude}*sin(2*PI*440*t){extra}:c=stereo:s=48000:d=4"

    return {
        "quiet": _generate(directory / "quiet.mp4", video, tone(QUIET_AMPLITUDE)),
        "loud": _generate(directory / "loud.mp4", video, tone(LOUD_AMPLITUDE)),
        "faint_noise": _generate(
            directory / "noise.mp4", video, "anoisesrc=a=0.003:c=pink:r=48000:d=4"
        ),
        "no_audio": _generate(directory / "mute.mp4", video, None),
        # A quiet tone with a loud 3 ms burst every 0.25 s: peaks far above its loudness.
        "clicks": _generate(directory / "clicks.mp4", video, tone(QUIET_AMPLITUDE, CLICKS)),
    }


class RecordingContext:
    """The part of a job context render_clip_file uses, recording the progress it reports."""

    def __init__(self, temp_dir: Path):
        self.temp_dir = str(temp_dir)
        self.reports: list[tuple[float, str | None, str | None]] = []

    def progress(self, percent, stage=None, label=None):
        self.reports.append((percent, stage, label))

    def stage(self, start, end, stage, label):
        self.progress(start, stage, label)
        return lambda fraction: self.progress(start + (end - start) * fraction)

    def track_process(self, process):
        pass

    def untrack_process(self, process):
        pass


def _render(tmp_path, source, preset, **recipe) -> Path:
    recipe = ClipRecipe.model_validate({"segments": CUTS, "audio_mode": "keep", **recipe})
    rendered = render_clip_file(RecordingContext(tmp_path), recipe, preset=preset, source=source)
    return rendered.output


def _assert_on_target(path, *, lufs=-14.0, true_peak=-1.0, tolerance=1.0):
    measured = measure_loudness(path)
    assert measured.integrated == pytest.approx(lufs, abs=tolerance), measured
    assert measured.true_peak <= true_peak, measured


def _assert_preset_format(path, preset):
    fmt = stream_format(path)
    assert (fmt.width, fmt.height, fmt.avg_frame_rate) == (preset.width, preset.height, preset.fps)
    assert (fmt.video_codec, fmt.pix_fmt, fmt.audio_codec) == ("h264", "yuv420p", "aac")
    assert fmt.audio_rate == 48000


def test_the_test_sources_are_far_from_the_target(sources):
    quiet, loud = measure_loudness(sources["quiet"]), measure_loudness(sources["loud"])
    assert quiet.integrated == pytest.approx(-35, abs=1.5)
    assert loud.integrated > -3 and loud.true_peak > -1


@pytest.mark.parametrize("level", ["quiet", "loud"])
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_renders_platform_ready(name, level, sources, tmp_path):
    preset = replace(PRESETS[name], x264_preset="ultrafast")
    output = _render(tmp_path, sources[level], preset)
    _assert_on_target(output, lufs=preset.loudness_lufs, true_peak=preset.true_peak_db)
    _assert_preset_format(output, preset)
    assert probe_media(output).duration == pytest.approx(CUT_LENGTH, abs=0.05)
    assert black_frames(output) == []
    assert frozen_frames(output, fps=preset.fps) == []


@pytest.mark.django_db(transaction=True)
def test_unmodified_preset_through_a_render_clip_job(user, sources):
    """The real job path (worker, job context, stored file) with the preset as shipped."""
    preset = PRESETS["tiktok"]
    assert preset.x264_preset == "medium"
    with open(sources["quiet"], "rb") as fh:
        job = services.job_create(
            job_type="render_clip",
            params={"preset": preset.name, "segments": CUTS, "audio_mode": "keep"},
            owner=user,
            inputs={"source": File(fh, name="s.mp4")},
        )
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["duration"] == pytest.approx(CUT_LENGTH, abs=0.1)
    output = Path(stored_path(job.files.get(label="video").name))
    _assert_on_target(output)
    _assert_preset_format(output, preset)
    assert black_frames(output) == [] and frozen_frames(output, fps=preset.fps) == []


@pytest.mark.django_db(transaction=True)
def test_an_export_preset_row_with_other_targets_is_honoured(api, user, sources):
    """-16 LUFS / -2 dBTP on an ExportPreset row reach a library render: the clip's speech
    voice-over over the loud tone has peaks that a constant gain alone would push too high."""
    row = ExportPreset.objects.create(
        name="podcast", label="Podcast", width=180, height=320, fps=30, crf=30,
        video_maxrate_kbps=500, x264_preset="ultrafast", loudness_lufs=-16, true_peak_db=-2,
    )  # fmt: skip
    clip = make_clip(user, sources["quiet"])
    add_content(clip, tts_text="Loudness check, one two.", tts_provider="offline")
    response = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": row.name})
    assert response.status_code == 202, response.content
    run_burst_worker()
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    export = Export.objects.get(id=response.json()["export_id"])
    _assert_on_target(stored_path(export.file.name), lufs=-16, true_peak=-2)


@pytest.mark.django_db(transaction=True)
def test_a_row_with_an_unreachable_target_fails_the_render_at_once(api, user, sources):
    row = ExportPreset.objects.create(
        name="hot", label="Hot", width=180, height=320, fps=30, crf=30,
        video_maxrate_kbps=500, x264_preset="ultrafast", loudness_lufs=-3,
    )  # fmt: skip
    clip = make_clip(user, sources["quiet"])
    response = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": row.name})
    assert response.status_code == 202, response.content
    run_burst_worker()
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == JobStatus.FAILED and job.attempts == 1  # permanent: no retry
    assert "loudness -3.0 LUFS is outside -70..-5" in job.error
    assert Export.objects.get(id=response.json()["export_id"]).status == Export.Status.FAILED


@pytest.fixture
def ffmpeg_runs(monkeypatch) -> list[list[str]]:
    """The argv of every ffmpeg run of the loudness analysis and the render (they still run)."""
    runs: list[list[str]] = []

    def recording_run(args, **kwargs):
        runs.append(list(args))
        return run_ffmpeg(args, **kwargs)

    monkeypatch.setattr(loudness, "run_ffmpeg", recording_run)
    monkeypatch.setattr(render_clip_module, "run_ffmpeg", recording_run)
    return runs


def _assert_audio_only(analysis: list[str], *, videos: int, others: int = 0):
    """An analysis argv: `videos` inputs opened with -vn (their video never read), `others`
    audio-only inputs, one audio output into the null muxer, no encoder."""
    assert analysis[-1] == "-" and analysis[analysis.index("-f") + 1] == "null"
    assert "libx264" not in analysis and "-vcodec" not in analysis
    assert analysis.count("-map") == 1  # the audio alone
    opened = [i for i, arg in enumerate(analysis) if arg == "-i"]
    assert len(opened) == videos + others
    assert sum(analysis[i - 1] == "-vn" for i in opened) == videos
    graph = analysis[analysis.index("-filter_complex") + 1]
    assert "print_format=json" in graph and "scale" not in graph and "fps=" not in graph


@pytest.mark.parametrize(
    ("true_peak", "tolerance"),
    [
        (-1.0, 1.0),
        # A low ceiling: the limiter takes over 1 LU, which the second analysis makes up for
        # (without it this lands at -15.0): tighter than the platforms' +/-1 to show it.
        (-3.0, 0.6),
    ],
)
def test_speech_voiceover_is_brought_to_target_under_the_peak_ceiling(
    true_peak, tolerance, media, sources, tmp_path, ffmpeg_runs
):
    """Speech is peaky: at -14 LUFS its raw peaks would pass the ceiling, so a constant gain is
    not enough. The gain is followed by a true-peak limiter, measured again (audio only) and
    corrected for what the limiter took."""
    speech = media.speech_wav()
    raw = measure_loudness(speech)
    assert raw.true_peak + (-14 - raw.integrated) > true_peak
    preset = replace(PRESETS["youtube_shorts"], x264_preset="ultrafast", true_peak_db=true_peak)
    spec = RenderSpec(
        pieces=(Piece(str(sources["quiet"]), 0.3, 1.3), Piece(str(sources["quiet"]), 2.0, 3.5)),
        preset=preset,
        output=str(tmp_path / "speech.mp4"),
        voiceover=str(speech),
        audio_mode=AudioMode.REPLACE,
    )
    spec = loudness.normalise_loudness(spec)
    assert [name for name, _ in spec.audio_filters] == ["volume", "aresample", "alimiter"]
    assert len(ffmpeg_runs) == 2  # measured, then the limited chain measured
    for analysis in ffmpeg_runs:  # the voice-over replaces the sources' audio: only it is read
        _assert_audio_only(analysis, videos=0, others=1)
        assert str(sources["quiet"]) not in analysis
    assert "alimiter" in ffmpeg_runs[1][ffmpeg_runs[1].index("-filter_complex") + 1]
    run_ffmpeg(build_render_args(spec))
    _assert_on_target(Path(spec.output), true_peak=true_peak, tolerance=tolerance)


def _burst_onsets(path: Path) -> list[float]:
    """Times (s) where the left channel first passes half its peak after 40 ms below it."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
    loud = np.flatnonzero(np.abs(samples) > np.abs(samples).max() / 2)
    starts = [loud[0], *loud[np.flatnonzero(np.diff(loud) > 0.04 * 48000) + 1]]
    return [round(int(i) / 48000, 4) for i in starts]


def test_the_limiter_keeps_the_audio_in_sync(sources, tmp_path):
    """The limiter looks ahead; its delay is compensated, so the bursts stay where the cuts put
    them: 0.3-1.3 s then 2.0-3.2 s of a source with a burst every 0.25 s."""
    preset = Preset("tiny", "Tiny", 180, 320, 30, 30, 500, x264_preset="ultrafast")
    spec = RenderSpec(
        pieces=(Piece(str(sources["clicks"]), 0.3, 1.3), Piece(str(sources["clicks"]), 2.0, 3.2)),
        preset=preset,
        output=str(tmp_path / "clicks.mp4"),
    )
    spec = loudness.normalise_loudness(spec)
    assert "alimiter" in [name for name, _ in spec.audio_filters]
    run_ffmpeg(build_render_args(spec))
    expected = [0.2, 0.45, 0.7, 0.95, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert _burst_onsets(Path(spec.output)) == pytest.approx(expected, abs=0.002)


def test_analysis_pass_reads_only_audio_and_the_render_encodes_once(sources, tmp_path, ffmpeg_runs):
    preset = Preset("tiny", "Tiny", 180, 320, 30, 30, 500, x264_preset="ultrafast")
    ctx = RecordingContext(tmp_path)
    recipe = ClipRecipe.model_validate({"segments": CUTS, "audio_mode": "keep"})
    render_clip_file(ctx, recipe, preset=preset, source=sources["quiet"])

    assert len(ffmpeg_runs) == 2  # the analysis, then the one render
    analysis, render = ffmpeg_runs
    _assert_audio_only(analysis, videos=2)
    assert render.count("libx264") == 1
    render_graph = render[render.index("-filter_complex") + 1]
    assert "linear=true" in render_graph and "measured_I=-35" in render_graph

    percents = [p for p, _, _ in ctx.reports]
    assert percents == sorted(percents)
    measuring = [r for r in ctx.reports if r[2] and "measuring loudness" in r[2]]
    assert measuring and measuring[0][1] == "render"  # the analysis is part of the render stage
    first_render = next(i for i, r in enumerate(ctx.reports) if r[2] == "Rendering Tiny")
    analysis_reports = ctx.reports[ctx.reports.index(measuring[0]) : first_render]
    assert len(analysis_reports) >= 2 and analysis_reports[-1][0] <= 35  # its progress, early


def test_analysis_argv_is_the_mix_alone_into_the_null_muxer():
    spec = RenderSpec(
        pieces=(Piece("in.mp4", 1, 2), Piece("in.mp4", 3, 4)),
        preset=PRESETS["square"],
        output="out.mp4",
    )
    target = loudness.loudness_target(spec.preset)
    assert loudness.build_analysis_args(spec, target) == [
        "-ss", "1.000", "-t", "1.000", "-vn", "-i", "in.mp4",
        "-ss", "3.000", "-t", "1.000", "-vn", "-i", "in.mp4",
        "-filter_complex",
        "[0:a]aresample=48000[s0];[s0]aformat=channel_layouts=stereo[s1];"
        "[1:a]aresample=48000[s2];[s2]aformat=channel_layouts=stereo[s3];"
        "[s1][s3]concat=a=1:n=2:v=0[s4];"
        "[s4]loudnorm=I=-14.00:LRA=20.00:TP=-1.50:print_format=json[s5]",
        "-map", "[s5]", "-f", "null", "-t", "2.000", "-vn", "-",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "recipe",
    [{"audio_mode": "replace"}, {}],  # replace without a voice-over: the mix is silence
    ids=["replace-without-voiceover", "source-without-audio"],
)
def test_silence_stays_silence(recipe, sources, tmp_path):
    source = sources["quiet"] if recipe else sources["no_audio"]
    preset = Preset("tiny", "Tiny", 180, 320, 30, 30, 500, x264_preset="ultrafast")
    measured = measure_loudness(_render(tmp_path, source, preset, **recipe))
    assert measured.integrated <= -69 and measured.true_peak < -90  # digital silence


def test_faint_noise_is_not_amplified(sources, tmp_path):
    before = measure_loudness(sources["faint_noise"])
    assert -70 < before.integrated < loudness.SILENCE_FLOOR_LUFS  # measurable, but only noise
    preset = Preset("tiny", "Tiny", 180, 320, 30, 30, 500, x264_preset="ultrafast")
    measured = measure_loudness(_render(tmp_path, sources["faint_noise"], preset))
    assert measured.integrated == pytest.approx(before.integrated, abs=1.5)


def test_a_preset_can_turn_normalisation_off(sources, tmp_path):
    preset = Preset(
        "raw", "Raw", 180, 320, 30, 30, 500, x264_preset="ultrafast", loudness_lufs=LOUDNESS_OFF
    )
    assert loudness.loudness_target(preset) is None
    measured = measure_loudness(_render(tmp_path, sources["quiet"], preset))
    assert measured.integrated == pytest.approx(-35, abs=1.5)  # the mix as it was


@pytest.mark.parametrize(
    ("lufs", "peak", "message"),
    [(-3, -1, "outside -70..-5"), (-80, -1, "outside -70..-5"), (-14, 0.5, "outside -9..0")],
)
def test_a_target_loudnorm_cannot_reach_is_a_permanent_error(lufs, peak, message):
    preset = Preset("odd", "Odd", 180, 320, 30, 30, 500, loudness_lufs=lufs, true_peak_db=peak)
    with pytest.raises(loudness.LoudnessTargetError, match=message) as err:
        loudness.loudness_target(preset)
    assert err.value.permanent


LOUDNORM_LOG = """[Parsed_loudnorm_5 @ 0x7f052c026700]
{
\t"input_i" : "-35.75",
\t"input_tp" : "-34.92",
\t"input_lra" : "0.00",
\t"input_thresh" : "-45.75",
\t"output_i" : "-14.00",
\t"output_tp" : "-13.13",
\t"output_lra" : "0.00",
\t"output_thresh" : "-24.00",
\t"normalization_type" : "dynamic",
\t"target_offset" : "-0.05"
}
[out#0/null @ 0x5571100f75c0] video:0KiB audio:1650KiB subtitle:0KiB other streams:0KiB"""


def test_the_measurement_is_read_from_the_log_and_fed_to_the_render():
    measured = loudness.parse_measurement(LOUDNORM_LOG)
    assert measured == loudness.Measurement(-35.75, -34.92, 0.0, -45.75, -0.05)
    assert not measured.is_silent
    target = loudness.LoudnessTarget(-16, -2)
    assert measured.fits_linear(target)  # 19.75 dB of gain leaves the peaks at -15.17 dBTP
    [(name, options), restamp] = loudness.linear_filters(target, measured)
    assert restamp == ("asetpts", (("expr", "STARTPTS+N/SR/TB"),))  # ffmpeg 5.x's loudnorm
    assert name == "loudnorm" and dict(options) == {
        "I": "-16.00", "TP": "-2.50", "LRA": "20.00", "measured_I": "-35.75",
        "measured_TP": "-34.92", "measured_LRA": "0.01", "measured_thresh": "-45.75",
        "offset": "-0.05", "linear": "true",
    }  # fmt: skip


def test_peaks_a_constant_gain_would_push_over_the_ceiling_get_a_limiter():
    target = loudness.LoudnessTarget(-14, -1)
    speechlike = loudness.Measurement(-20.0, -4.0, 4.6, -30.0, 0.0)  # +6 dB: peaks at +2 dBTP
    assert not speechlike.fits_linear(target)
    assert not loudness.Measurement(-20.0, -30.0, 25.0, -30.0, 0.0).fits_linear(target)  # LRA
    assert loudness.limited_filters(target, 6.0) == (
        ("volume", (("volume", "6.00dB"),)),
        ("aresample", (("osr", "192000"),)),
        ("alimiter", (("limit", "0.8414"), ("level", "false"), ("attack", "5"),
                      ("release", "50"), ("latency", "true"))),
    )  # fmt: skip


def test_silence_and_a_missing_report_are_recognised():
    silent = LOUDNORM_LOG.replace('"-35.75"', '"-inf"')
    assert loudness.parse_measurement(silent).is_silent
    assert math.isinf(loudness.parse_measurement(silent).integrated)
    with pytest.raises(MediaError, match="no loudnorm report"):
        loudness.parse_measurement("[aac @ 0x1] Qavg: 120.0")


def test_the_detectors_do_see_black_and_frozen_frames(tmp_path):
    """The black/freeze assertions above can fail: a black flash and a 25 -> 30 fps render
    (every fifth frame repeated) are caught."""
    flash = _generate(
        tmp_path / "flash.mp4",
        "testsrc2=size=180x320:rate=30:duration=2,drawbox=color=black:t=fill:enable='between(t,1,1.1)'",
        None,
    )
    assert black_frames(flash)
    slow = _generate(tmp_path / "slow.mp4", "testsrc2=size=320x240:rate=25:duration=2", None)
    preset = Preset("tiny", "Tiny", 180, 320, 30, 30, 500, x264_preset="ultrafast")
    spec = RenderSpec(pieces=(Piece(str(slow), 0, 2, has_audio=False),), preset=preset,
                      output=str(tmp_path / "dup.mp4"))  # fmt: skip
    run_ffmpeg(build_render_args(spec))
    assert frozen_frames(Path(spec.output), fps=30)
    live = _generate(tmp_path / "live.mp4", "testsrc2=s=180x320:r=30:d=2", None)
    assert frozen_frames(live, fps=30) == []
