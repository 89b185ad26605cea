"""Subtitle styling through ASS and burn-in with the real ffmpeg/libass.

Burned videos are encoded losslessly (x264 -qp 0) so that decoded frames can be compared with
the source's exactly: a frame without a cue must come out unchanged, a frame with one must not.
"""

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import av
import ffmpeg
import numpy as np
import pydantic
import pytest
import srt

from media_pipeline.ops.ffmpeg_bin import ffmpeg_path
from media_pipeline.ops.ffmpeg_run import escape_filter_value, run_ffmpeg
from media_pipeline.ops.srt_validation import InvalidSrtError
from media_pipeline.ops.subtitles import (
    SubtitleStyle,
    ass_color,
    build_ass,
    burn_subtitles_filter,
    default_fonts_dir,
    escape_ass_text,
)

W, H, FPS = 320, 240, 25
WEIRD_DIR = "we ird'dir:with,[brackets]\\and;more="  # space ' : , [ ] \ ; =

TWO_CUES = (
    "1\n00:00:00,500 --> 00:00:01,500\nFirst cue\n\n2\n00:00:02,000 --> 00:00:02,600\nSecond\n"
)
SHOWN = [(0.5, 1.5), (2.0, 2.6)]
EDGE = 0.05  # frames this close to a cue's start or end are not classified


def cues(*spans):
    return [
        srt.Subtitle(i, timedelta(seconds=a), timedelta(seconds=b), f"cue {i}")
        for i, (a, b) in enumerate(spans, start=1)
    ]


def style_fields(ass: str, name: str) -> dict:
    fmt = re.search(r"^\[V4\+ Styles\]\nFormat: (.*)$", ass, re.M).group(1).split(", ")
    values = re.search(rf"^Style: ({name},.*)$", ass, re.M).group(1).split(",")
    assert len(values) == len(fmt)
    return dict(zip(fmt, values, strict=True))


def dialogues(ass: str) -> list[list[str]]:
    return [line[len("Dialogue: ") :].split(",", 9) for line in ass.splitlines() if line.startswith("Dialogue: ")]  # fmt: skip


# --- style model --------------------------------------------------------------------------------


def test_style_defaults_and_camel_case_fields():
    style = SubtitleStyle()
    assert style.fontFamily == "Lato"
    assert style.model_dump().keys() >= {
        "fontSize", "fontFamily", "textColor", "outlineColor", "outlineWidth", "positionY", "bold",
    }  # fmt: skip
    assert SubtitleStyle.model_validate({"fontSize": 64, "textColor": "#ff0000"}).fontSize == 64


@pytest.mark.parametrize(
    "bad",
    [
        {"textColor": "red"},
        {"outlineColor": "#FFF"},
        {"textColor": "#GG0000"},
        {"highlightColor": "#12345678"},
        {"fontSize": 4},
        {"fontSize": 1000},
        {"outlineWidth": -1},
        {"outlineWidth": 50},
        {"positionY": -5},
        {"positionY": 120},
        {"fontFamily": "Arial;Bold"},  # not a family name
        {"fontFamily": "Arial,,sans-serif"},  # an empty item
        {"fontFamily": "url(font.ttf), Arial"},  # neither a name, a variable nor a generic
        {"fontFamily": "'Bebas, Neue'"},  # a comma would break the comma-separated Style line
        {"fontFamily": ""},
        {"font_size": 40},  # unknown field
    ],
)
def test_style_rejects_bad_values(bad):
    with pytest.raises(pydantic.ValidationError):
        SubtitleStyle.model_validate(bad)


def test_ass_colour_is_blue_green_red():
    assert ass_color("#123456") == "&H00563412"
    assert ass_color("#ff8000") == "&H000080FF"


# --- ASS text -----------------------------------------------------------------------------------


def test_ass_header_uses_the_output_size_and_pixel_styles():
    style = SubtitleStyle(
        fontSize=72, textColor="#FF8000", outlineColor="#102030", outlineWidth=4.5,
        positionY=85, bold=False, highlightColor="#00FF00",
    )  # fmt: skip
    ass = build_ass(cues((1, 2)), width=1080, height=1920, style=style)
    assert re.search(r"^PlayResX: 1080$", ass, re.M)
    assert re.search(r"^PlayResY: 1920$", ass, re.M)
    default = style_fields(ass, "Default")
    assert default["Fontname"] == "Lato"
    assert default["Fontsize"] == "72"
    assert default["PrimaryColour"] == "&H000080FF"
    assert default["OutlineColour"] == "&H00302010"
    assert default["Outline"] == "4.5"
    assert default["Bold"] == "0"
    assert default["Alignment"] == "2"  # bottom centre
    # Vertical: the safe zone's 14% of 1080 (151) plus the 4.5 px outline and 3 % of the font
    # size for the glyphs' overhang (2.16 px), on both sides.
    assert default["MarginL"] == default["MarginR"] == "158"
    assert default["MarginV"] == "288"  # bottom edge at 85% of 1920
    karaoke = style_fields(ass, "Karaoke")
    assert karaoke["PrimaryColour"] == "&H0000FF00"  # spoken words
    assert karaoke["SecondaryColour"] == "&H000080FF"  # words still to come


def test_default_size_and_outline_follow_the_output_height():
    """Unset fontSize/outlineWidth: 6 % of the height and 1/16 of that (cap height ~3.7 %);
    explicit values are drawn as given, whatever the output."""
    sizes = {}
    for width, height in ((1080, 1920), (1920, 1080), (1080, 1080), (320, 240)):
        default = style_fields(build_ass(cues((1, 2)), width=width, height=height), "Default")
        sizes[height] = (int(default["Fontsize"]), float(default["Outline"]))
    assert sizes == {1920: (115, 7.2), 1080: (65, 4.1), 240: (14, 1.0)}
    explicit = SubtitleStyle(fontSize=48)  # the web editor's default, for a 1080-wide frame
    for height in (1920, 1080):
        fields = style_fields(build_ass(cues((1, 2)), width=1080, height=height, style=explicit), "Default")  # fmt: skip
        assert (fields["Fontsize"], fields["Outline"]) == ("48", "3")
    no_outline = style_fields(build_ass(cues((1, 2)), width=1080, height=1920, style={"outlineWidth": 0}), "Default")  # fmt: skip
    assert (no_outline["Fontsize"], no_outline["Outline"]) == ("115", "0")
    assert SubtitleStyle.model_validate({"fontSize": None}).font_size_for(1920) == 115


@pytest.mark.parametrize(
    "style, spoken",
    [
        ({}, "&H0000D7FF"),  # white text: spoken words gold
        ({"textColor": "#FFFF00"}, "&H00FFE500"),  # yellow text: gold would not show, cyan
        ({"textColor": "#FFC800"}, "&H00FFE500"),
        ({"textColor": "#FFFF00", "highlightColor": "#FFFF00"}, "&H0000FFFF"),  # as asked
    ],
)
def test_karaoke_highlight_differs_from_the_text_unless_asked(style, spoken):
    karaoke = style_fields(build_ass(cues((1, 2)), width=1080, height=1920, style=style), "Karaoke")
    assert karaoke["PrimaryColour"] == spoken


@pytest.mark.parametrize(
    "stack, face",
    [
        ("var(--font-montserrat), Montserrat, sans-serif", "Montserrat"),
        ("Arial, sans-serif", "Arial"),
        ("'Bebas Neue'", "Bebas Neue"),
        ('"Open Sans", var(--x), serif', "Open Sans"),
        ("var(--font-inter), sans-serif", "Lato"),  # no real family: the default face
    ],
)
def test_css_font_stacks_are_kept_and_render_their_first_real_family(stack, face):
    style = SubtitleStyle(fontFamily=stack)
    assert style.fontFamily == stack and style.model_dump()["fontFamily"] == stack
    ass = build_ass(cues((1, 2)), width=320, height=240, style=style)
    assert style_fields(ass, "Default")["Fontname"] == face
    assert style_fields(ass, "Karaoke")["Fontname"] == face


def test_upper_positions_anchor_the_top_edge():
    ass = build_ass(cues((1, 2)), width=320, height=240, style={"positionY": 10, "bold": True})
    fields = style_fields(ass, "Default")
    assert (fields["Alignment"], fields["MarginV"], fields["Bold"]) == ("8", "24", "-1")


def test_dialogue_times_and_escaped_text():
    subs = [
        srt.Subtitle(1, timedelta(seconds=1.234), timedelta(seconds=62.5), "a {brace}\nnext"),
        srt.Subtitle(2, timedelta(hours=1, seconds=3), timedelta(hours=1, seconds=4), "<i>it</i> <b>b</b> <font color=red>f</font>"),
    ]  # fmt: skip
    rows = dialogues(build_ass(subs, width=W, height=H))
    assert [r[1:4] for r in rows] == [
        ["0:00:01.23", "0:01:02.50", "Default"],
        ["1:00:03.00", "1:00:04.00", "Default"],
    ]
    assert rows[0][9] == "a \\{brace\\}\\Nnext"
    assert rows[1][9] == "{\\i1}it{\\i} {\\b1}b{\\b} f"


def test_escape_ass_text_keeps_backslashes_literal():
    assert escape_ass_text("C:\\Name \\h x\\") == "C:\\\u2060Name \\\u2060h x\\\u2060"
    assert escape_ass_text("plain \\ back") == "plain \\ back"


def test_srt_text_is_validated_strictly():
    ass = build_ass(TWO_CUES, width=W, height=H)
    assert [r[9] for r in dialogues(ass)] == ["First cue", "Second"]
    with pytest.raises(InvalidSrtError, match="cue 1"):
        build_ass("1\n00:00:02,000 --> 00:00:01,000\nbackwards\n", width=W, height=H)


def test_karaoke_tags_from_word_timings():
    subs = [
        srt.Subtitle(1, timedelta(seconds=1), timedelta(seconds=3), "Hello big\nworld!"),
        srt.Subtitle(2, timedelta(seconds=4), timedelta(seconds=5), "no timed words"),
    ]
    words = [
        {"word": "hello", "start": 1.2, "end": 1.6},
        {"word": "big", "start": 1.6, "end": 2.05},
        {"word": "world", "start": 2.3, "end": 3.4},  # runs past the cue: cut at its end
    ]
    rows = dialogues(build_ass(subs, width=W, height=H, words=words))
    assert rows[0][3] == "Karaoke"
    # Centiseconds from the cue start; the cue's own spelling and line break are kept.
    assert rows[0][9] == "{\\k20}{\\kf40}Hello {\\kf45}big\\N{\\k25}{\\kf70}world!"
    assert rows[1][3:] == ["Default", "", "0", "0", "0", "", "no timed words"]
    instant = dialogues(build_ass(subs, width=W, height=H, words=words, karaoke_fill=False))
    assert instant[0][9] == "{\\k20}{\\k40}Hello {\\k45}big\\N{\\k25}{\\k70}world!"


def test_karaoke_uses_the_words_when_the_cue_text_does_not_match():
    subs = [srt.Subtitle(1, timedelta(seconds=0), timedelta(seconds=1), "something else")]
    words = [{"word": "one", "start": 0.0, "end": 0.5}, {"word": "{x}", "start": 0.5, "end": 1}]
    assert dialogues(build_ass(subs, width=W, height=H, words=words))[0][9] == (
        "{\\kf50}one {\\kf50}\\{x\\}"
    )


# --- the filter string --------------------------------------------------------------------------


def test_burn_filter_escapes_both_paths_like_ffmpeg_python():
    ass_path, fonts = f"/data/{WEIRD_DIR}/subs.ass", f"/fonts/{WEIRD_DIR}"
    built = burn_subtitles_filter(ass_path, fonts)
    assert built == f"ass=filename={escape_filter_value(ass_path)}:fontsdir={escape_filter_value(fonts)}"  # fmt: skip
    # The graph ffmpeg-python writes for .filter("ass", ...) carries the very same string.
    graph = ffmpeg.input("in.mp4").filter("ass", filename=ass_path, fontsdir=fonts).output("o")
    assert f"[0]{built}[s0]" in graph.get_args()
    assert burn_subtitles_filter("/x.ass") == f"ass=filename=/x.ass:fontsdir={default_fonts_dir()}"


def test_escape_filter_value_protects_edge_whitespace():
    # Option level: "\ a\ " ; graph level escapes those backslashes and the trailing space again.
    assert escape_filter_value(" a ") == "\\\\ a\\\\\\ "
    assert escape_filter_value("plain/path.ass") == "plain/path.ass"


# --- rendering with ffmpeg ----------------------------------------------------------------------


def burn(source_args: list[str], ass_path: Path, out: Path, fonts_dir=None, seconds=3.0) -> Path:
    run_ffmpeg(
        [*source_args, "-vf", burn_subtitles_filter(ass_path, fonts_dir), "-an",
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(out)],
        duration=seconds,
    )  # fmt: skip
    return out


def frames(path: Path):
    """(time, RGB frame as int16) for every frame, decoded one at a time."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield float(frame.time), frame.to_ndarray(format="rgb24").astype(np.int16)


def classify(t: float) -> str | None:
    if any(a + EDGE <= t <= b - EDGE for a, b in SHOWN):
        return "cue"
    if all(t <= a - EDGE or t >= b + EDGE for a, b in SHOWN):
        return "clear"
    return None


def solid(seconds=3.0, color="0x404040") -> list[str]:
    return ["-f", "lavfi", "-i", f"color=c={color}:size={W}x{H}:rate={FPS}:duration={seconds}"]


def test_burning_from_a_path_with_filter_special_characters(media, tmp_path):
    """Both the ASS path and the fonts dir contain space ' : , [ ] \\ ; = : ffmpeg reads them
    exactly. Frames with a cue change, the others come out identical to the source."""
    source = media.video(seconds=3)
    weird = tmp_path / WEIRD_DIR
    weird.mkdir()
    fonts = weird / "fonts"
    fonts.mkdir()
    for ttf in default_fonts_dir().glob("Lato-Bold*.ttf"):
        shutil.copy(ttf, fonts)
    ass = build_ass(TWO_CUES, width=W, height=H, style={"fontSize": 36})
    (weird / "subs.ass").write_text(ass, encoding="utf-8")
    (tmp_path / "plain.ass").write_text(ass, encoding="utf-8")

    odd = burn(["-i", str(source)], weird / "subs.ass", tmp_path / "odd.mp4", fonts)
    plain = burn(["-i", str(source)], tmp_path / "plain.ass", tmp_path / "plain.mp4")

    seen = {"cue": 0, "clear": 0}
    for (t, src), (_, a), (_, b) in zip(frames(source), frames(odd), frames(plain), strict=True):
        kind = classify(t)
        changed = int((np.abs(a - src).max(axis=2) > 40).sum())
        if kind == "clear":
            assert np.abs(a - src).max() <= 1, f"frame at {t:.2f}s changed without a cue"
        elif kind == "cue":
            assert changed > 300, f"frame at {t:.2f}s shows no subtitle ({changed} px changed)"
        if kind:
            seen[kind] += 1
        # The fonts dir with the odd name was read: same Lato glyphs as the shipped directory
        # (this machine's fontconfig has no Lato, so a lost fontsdir would change the glyphs).
        assert np.array_equal(a, b), f"frame at {t:.2f}s differs from the plain-path burn"
    assert seen["cue"] >= 30 and seen["clear"] >= 25, seen


def burned_frame(tmp_path: Path, name: str, style: dict, text="Typography") -> np.ndarray:
    """The frame at 0.5 s of a 1 s solid grey video with one cue from 0.2 to 0.8 s."""
    subs = [srt.Subtitle(1, timedelta(seconds=0.2), timedelta(seconds=0.8), text)]
    (tmp_path / f"{name}.ass").write_text(build_ass(subs, width=W, height=H, style=style))
    out = burn(solid(1.0), tmp_path / f"{name}.ass", tmp_path / f"{name}.mp4", seconds=1.0)
    return next(frame for t, frame in frames(out) if t >= 0.5)


def text_rows(frame: np.ndarray) -> np.ndarray:
    """Rows where the frame differs from the grey background (text or outline)."""
    return np.flatnonzero((np.abs(frame - 64).max(axis=2) > 40).any(axis=1))


def test_vertical_position_follows_position_y_in_pixels(tmp_path):
    base = {"fontSize": 40, "outlineWidth": 2}
    rows = {
        y: text_rows(burned_frame(tmp_path, f"y{y}", {**base, "positionY": y}))
        for y in (85, 60, 10, 30)
    }
    # Lower half: the block's bottom edge sits at positionY% of 240 px (85% = 204 px; the
    # glyphs end a little above the line box), and moves with it exactly (25% = 60 px).
    assert 198 <= rows[85].max() <= 206, rows[85].max()
    assert abs((rows[85].max() - rows[60].max()) - 60) <= 1
    # Upper half: the top edge sits at positionY% (10% = 24 px) and moves with it (20% = 48 px).
    assert 22 <= rows[10].min() <= 38, rows[10].min()
    assert abs((rows[30].min() - rows[10].min()) - 48) <= 1
    assert rows[10].max() < H / 2 < rows[85].min()


def test_text_and_outline_colours_are_measured_on_burned_frames(tmp_path):
    style = {"fontSize": 48, "outlineWidth": 3}
    red = burned_frame(tmp_path, "red", {**style, "textColor": "#FF0000", "outlineColor": "#0000FF"})  # fmt: skip
    r, g, b = red[..., 0], red[..., 1], red[..., 2]
    red_px = int(((r > 200) & (g < 60) & (b < 60)).sum())
    blue_px = int(((b > 200) & (r < 60) & (g < 60)).sum())
    assert red_px > 300, red_px  # the text is red (not blue: ASS colours are &HBBGGRR)
    assert blue_px > 300, blue_px  # and outlined in blue
    thin = burned_frame(tmp_path, "thin", {**style, "textColor": "#FF0000", "outlineColor": "#0000FF", "outlineWidth": 1})  # fmt: skip
    thin_blue = int(((thin[..., 2] > 200) & (thin[..., 0] < 60) & (thin[..., 1] < 60)).sum())
    assert thin_blue < blue_px * 0.6, (thin_blue, blue_px)  # outlineWidth is really a width


def test_default_font_is_loaded_from_the_shipped_directory(tmp_path):
    (tmp_path / "s.ass").write_text(build_ass(TWO_CUES, width=W, height=H))
    # The log at info level says which font libass picked; run_ffmpeg keeps only warnings.
    log = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "info", *solid(1.0),
         "-vf", burn_subtitles_filter(tmp_path / "s.ass"), "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    assert f"Loading font file '{default_fonts_dir() / 'Lato-Bold.ttf'}'" in log
    assert re.search(r"fontselect: \(Lato, 700, 0\) -> Lato-Bold\b", log), log[-2000:]


def test_karaoke_highlight_advances_within_a_cue(tmp_path):
    subs = [srt.Subtitle(1, timedelta(seconds=0.2), timedelta(seconds=2.8), "one two three")]
    words = [
        {"word": "one", "start": 0.3, "end": 0.9},
        {"word": "two", "start": 1.0, "end": 1.6},
        {"word": "three", "start": 1.7, "end": 2.5},
    ]
    style = {"fontSize": 40, "textColor": "#FFFFFF", "highlightColor": "#00FF00"}
    (tmp_path / "k.ass").write_text(build_ass(subs, width=W, height=H, style=style, words=words))
    out = burn(solid(), tmp_path / "k.ass", tmp_path / "k.mp4")
    lit, unlit = {}, {}
    for t, frame in frames(out):
        r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
        lit[round(t, 2)] = int(((g > 200) & (r < 90) & (b < 90)).sum())
        unlit[round(t, 2)] = int(((r > 200) & (g > 200) & (b > 200)).sum())
    assert lit[0.24] == 0 and unlit[0.24] > 300  # the cue is up, no word spoken yet
    assert lit[0.28] == 0 < lit[0.4]  # 'one' starts lighting at 0.3 s...
    assert lit[0.4] < lit[0.6] < lit[0.8]  # ...and fills as it is spoken (\kf sweeps)
    assert lit[0.92] == lit[0.96]  # the pause between words: nothing changes
    assert lit[0.8] < lit[1.4] < lit[2.2] < lit[2.6]  # then 'two', then 'three'
    assert unlit[2.6] < 20  # every word lit by the end
    assert lit[2.92] == unlit[2.92] == 0  # after the cue: nothing
