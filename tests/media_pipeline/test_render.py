"""Final render builders: the timeline planner and the single ffmpeg command, compared exactly,
and a real render checked by probing."""

import pytest

from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.presets import PRESETS, Preset, get_preset
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.render import (
    AudioMode,
    Piece,
    RenderSpec,
    SyncMode,
    build_render_args,
    plan_timeline,
)

A, B, C = Piece("a.mp4", 0, 4), Piece("b.mp4", 10, 12), Piece("c.mp4", 1, 2)


def spans(timeline):
    return [(p.path, p.start, p.end) for p in timeline]


def test_plan_trims_to_the_target():
    assert spans(plan_timeline([A, B], 5)) == [("a.mp4", 0, 4), ("b.mp4", 10, 11)]


def test_plan_extends_with_extra_segments_then_loops():
    timeline = plan_timeline([B], 6, mode=SyncMode.EXTEND, extra=[C])
    assert spans(timeline) == [
        ("b.mp4", 10, 12),
        ("c.mp4", 1, 2),
        ("b.mp4", 10, 12),
        ("c.mp4", 1, 2),
    ]
    assert sum(p.duration for p in timeline) == pytest.approx(6)


def test_plan_loops_the_pieces():
    assert spans(plan_timeline([B], 5, mode=SyncMode.LOOP)) == [
        ("b.mp4", 10, 12),
        ("b.mp4", 10, 12),
        ("b.mp4", 10, 11),
    ]


def test_plan_trim_mode_never_extends():
    assert spans(plan_timeline([B], 5, mode=SyncMode.TRIM)) == [("b.mp4", 10, 12)]


def test_plan_rejects_empty_input():
    with pytest.raises(ValueError):
        plan_timeline([], 3)


@pytest.mark.parametrize("mode", list(SyncMode))
def test_plan_rejects_pieces_too_short_to_use_instead_of_looping_forever(mode):
    with pytest.raises(ValueError, match="no piece of at least"):
        plan_timeline([Piece("a.mp4", 1.0, 1.01)], 3, mode=mode)


def test_presets_have_the_platform_sizes():
    vertical = {"tiktok", "instagram_reels", "youtube_shorts", "facebook_reels", "instagram_story"}
    assert {n for n, p in PRESETS.items() if (p.width, p.height) == (1080, 1920)} == vertical
    assert (PRESETS["youtube"].width, PRESETS["youtube"].height) == (1920, 1080)
    assert (PRESETS["square"].width, PRESETS["square"].height) == (1080, 1080)
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("vhs")


def test_render_argv_single_piece_keep_audio(settings):
    settings.ENCODER_THREADS, settings.ENCODER_LOOKAHEAD = 2, 10
    spec = RenderSpec(
        pieces=(Piece("in.mp4", 1.5, 3.5),), preset=get_preset("square"), output="out.mp4"
    )
    assert build_render_args(spec) == [
        "-ss", "1.500", "-t", "2.000", "-i", "in.mp4",
        "-filter_complex",
        "[0:v]fps=fps=30:start_time=0[s0];[s0]tpad=stop=-1:stop_mode=clone[s1];"
        "[s1]crop=h=min(ih\\,2*round(iw*1080/1080/2)):w=min(iw\\,2*round(ih*1080/1080/2))[s2];"
        "[s2]scale=h=1080:w=1080[s3];[s3]setsar=r=1[s4];[s4]format=pix_fmts=yuv420p[s5];"
        "[s5]trim=end_frame=60[s6];"  # 2 s at 30 fps: exactly as long as the audio
        "[0:a]aresample=48000[s7];[s7]aformat=channel_layouts=stereo[s8]",
        "-map", "[s6]", "-map", "[s8]",
        "-acodec", "aac", "-ar", "48000", "-b:a", "192k", "-bufsize", "16000k", "-crf", "20", "-g", "60",
        "-maxrate", "8000k", "-movflags", "+faststart", "-preset", "medium", "-profile:v", "high",
        "-r", "30", "-t", "2.000", "-vcodec", "libx264", "-x264-params", "threads=2:rc-lookahead=10:sync-lookahead=0", "out.mp4",
    ]  # fmt: skip


def test_render_argv_duck_mode_mixes_voiceover_over_lowered_original():
    spec = RenderSpec(
        pieces=(Piece("in.mp4", 0, 2),), preset=get_preset("tiktok"), output="o.mp4",
        voiceover="vo.wav", audio_mode=AudioMode.DUCK, duck_level=0.1,
    )  # fmt: skip
    graph = build_render_args(spec)[build_render_args(spec).index("-filter_complex") + 1]
    assert "volume=volume=0.100" in graph
    assert "[1:a]aresample=48000" in graph and "amix=duration=first:inputs=2:normalize=0" in graph


ASS = """[Script Info]
ScriptType: v4.00+
PlayResX: 180
PlayResY: 320

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, OutlineColour, BorderStyle, Outline, Alignment, MarginV
Style: Default,Lato,60,&H0000FFFF,&H00000000,1,4,2,20

[Events]
Format: Layer, Start, End, Style, Text
Dialogue: 0,0:00:00.00,0:00:05.00,Default,WWW
"""


def _first_frame(path):
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray").astype(np.int16)


def test_subtitles_from_a_path_with_filter_special_characters_are_burned(
    media, tmp_path, small_preset
):
    from font_lato import __file__ as lato_init

    from media_pipeline.ops.render import Subtitles

    weird = tmp_path / "it's: a [test], ok"
    weird.mkdir()
    ass = weird / "subs.ass"
    ass.write_text(ASS)
    fonts = str(__import__("pathlib").Path(lato_init).parent / "files")
    piece = (Piece(str(media.video(seconds=2)), 0, 1),)
    plain, subbed = tmp_path / "plain.mp4", tmp_path / "subbed.mp4"
    run_ffmpeg(build_render_args(RenderSpec(pieces=piece, preset=small_preset, output=str(plain))))
    spec = RenderSpec(
        pieces=piece, preset=small_preset, output=str(subbed), subtitles=Subtitles(str(ass), fonts)
    )
    run_ffmpeg(build_render_args(spec))
    diff = abs(_first_frame(subbed) - _first_frame(plain))
    assert diff[200:320].mean() > 5  # the caption area (bottom) changed
    assert diff[:100].mean() < 2  # the top did not


@pytest.fixture
def small_preset():
    return Preset("small", "Small", 180, 320, 25, 28, 1000, x264_preset="ultrafast")


def test_real_render_joins_pieces_from_mixed_sources_into_the_preset_frame(
    media, tmp_path, small_preset
):
    landscape, rotated, silent = (
        media.video(seconds=2),
        media.rotated(rotation=90),
        media.video(seconds=2, audio=False),
    )
    pieces = (
        Piece(str(landscape), 0.5, 1.5),
        Piece(str(rotated), 0, 1),
        Piece(str(silent), 0, 0.8, has_audio=False),
    )
    out = tmp_path / "out.mp4"
    fractions = []
    spec = RenderSpec(pieces=pieces, preset=small_preset, output=str(out))
    run_ffmpeg(build_render_args(spec), duration=spec.duration, on_progress=fractions.append)
    info = probe_media(out)
    assert (info.width, info.height, info.fps) == (180, 320, 25.0)
    assert info.duration == pytest.approx(2.8, abs=0.1)
    assert info.has_audio and info.audio_sample_rate == 48000
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_the_render_writes_its_middle_frame_as_the_thumbnail(media, tmp_path, small_preset):
    import av
    import numpy as np
    from PIL import Image

    pattern, halves = str(media.video(seconds=2)), str(media.halves(seconds=1))
    out, thumbnail = tmp_path / "out.mp4", tmp_path / "out.jpg"
    # the test pattern, one second of red and blue halves in the middle, the pattern again
    pieces = (Piece(pattern, 0, 1), Piece(halves, 0, 1, has_audio=False), Piece(pattern, 1, 2))
    spec = RenderSpec(pieces=pieces, preset=small_preset, output=str(out), thumbnail=str(thumbnail))
    run_ffmpeg(build_render_args(spec))
    picture = Image.open(thumbnail)
    assert picture.size == (360, 640)  # 360 wide, the output's shape
    middle = 3 * small_preset.fps // 2  # frame 37 of 75: red and blue
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3 * small_preset.fps
    expected = np.asarray(Image.fromarray(frames[middle]).resize(picture.size), dtype=np.int16)
    got = np.asarray(picture.convert("RGB"), dtype=np.int16)
    assert np.abs(got - expected).mean() < 12  # the same frame (JPEG and x264 apart)
    for other in (frames[5], frames[-5]):  # and not one from elsewhere on the timeline
        elsewhere = np.asarray(Image.fromarray(other).resize(picture.size), dtype=np.int16)
        assert np.abs(got - elsewhere).mean() > 2 * np.abs(got - expected).mean()
