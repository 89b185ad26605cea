"""Burned captions of the default style stay inside the 9:16 safe zone, measured on rendered
frames.

Each vertical preset renders, through the real `render_clip` job and worker, a uniform dark
clip with a caption long enough to wrap over several lines (and the karaoke captions of a
voice-over). The caption's pixels are found in every decoded frame; their bounding box must be
non-empty, several lines tall, and inside `VERTICAL_SAFE_ZONE`. A caption deliberately placed
under the bottom band must fail the same check, so the check itself is proven.
"""

from dataclasses import replace

import av
import numpy as np
import pytest

from media_pipeline.ops.presets import PRESETS
from media_pipeline.ops.safe_zone import VERTICAL_SAFE_ZONE, is_vertical
from media_pipeline.ops.subtitles import SubtitleStyle, build_ass
from tests.media_pipeline.render_jobs import DARK_BACKGROUND, dark_vertical_clip, rendered_video

pytestmark = pytest.mark.django_db(transaction=True)

VERTICAL = sorted(name for name, p in PRESETS.items() if is_vertical(p.width, p.height))
LONG_CAPTION = (
    "Captions this long have to wrap over several lines, and every single one of them "
    "must stay clear of the buttons, the description and the top bar"
)
CAPTION_SRT = f"1\n00:00:00,200 --> 00:00:01,800\n{LONG_CAPTION}\n"
BACKGROUND = DARK_BACKGROUND  # dark grey: the white text and its black outline both stand out
CHANGED = 30  # luma difference from the background that counts as a caption pixel


@pytest.fixture(scope="module")
def dark_source(tmp_path_factory):
    """2 s of uniform dark grey in 9:16 with a quiet tone."""
    return dark_vertical_clip(tmp_path_factory.mktemp("safe_zone") / "dark.mp4", seconds=2, fps=30)


@pytest.fixture
def fast_presets(monkeypatch):
    """Every vertical preset with x264 `ultrafast` instead of `medium`: the encoder's speed
    setting does not move a pixel of the burned captions (same filter graph, same `ass`
    filter, same output size). The job's worker is a fork of this process and sees the
    patched table."""
    for name in VERTICAL:
        monkeypatch.setitem(PRESETS, name, replace(PRESETS[name], x264_preset="ultrafast"))


def render(user, source, **params) -> str:
    return rendered_video(user, source, audio_mode="keep", **params)


def caption_box(path) -> tuple[tuple[int, int, int, int] | None, int]:
    """The bounding box (left, top, right, bottom; right and bottom exclusive) of every pixel
    that differs from the background in any frame, and how many frames show a caption."""
    seen = None
    frames_with_caption = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]  # Y, rows padded to line_size
            luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            luma = luma[:, : plane.width].astype(np.int16)
            background = int(np.median(luma[::16, ::16]))  # the caption covers little of it
            mask = np.abs(luma - background) > CHANGED
            if mask.sum() < 500:  # no caption on this frame (a few codec stray pixels at most)
                continue
            frames_with_caption += 1
            seen = mask if seen is None else seen | mask
    if seen is None:
        return None, 0
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1), frames_with_caption


def assert_inside_safe_zone(path, preset_name: str, *, min_lines: int) -> None:
    preset = PRESETS[preset_name]
    box, frames = caption_box(path)
    assert box is not None and frames >= 10, f"no caption found ({frames} frames)"
    left, top, right, bottom = box
    safe_left, safe_top, safe_right, safe_bottom = VERTICAL_SAFE_ZONE.box(
        preset.width, preset.height
    )
    assert left >= safe_left, f"caption {box} crosses the safe zone's left edge {safe_left}"
    assert right <= safe_right, f"caption {box} crosses the safe zone's right edge {safe_right}"
    assert top >= safe_top, f"caption {box} crosses the safe zone's top edge {safe_top}"
    assert bottom <= safe_bottom, f"caption {box} crosses the safe zone's bottom edge {safe_bottom}"
    # A real caption: `min_lines` lines of the default font size (glyphs fill ~85 % of a line
    # box), most of the width used.
    font_size = SubtitleStyle().font_size_for(preset.height)
    assert bottom - top >= min_lines * font_size * 0.8, box
    assert right - left >= (safe_right - safe_left) // 2, box


@pytest.mark.parametrize("preset", VERTICAL)
def test_default_captions_stay_inside_the_safe_zone(user, dark_source, fast_presets, preset):
    output = render(user, dark_source, preset=preset, srt=CAPTION_SRT)
    assert_inside_safe_zone(output, preset, min_lines=3)


def test_karaoke_captions_of_a_voice_over_stay_inside_the_safe_zone(
    user, dark_source, fast_presets
):
    output = render(
        user,
        dark_source,
        preset="tiktok",
        karaoke=True,
        tts={
            "text": "Short videos need captions that stay well clear of the buttons on the "
            "right and of the description at the bottom of the screen.",
            "provider": "offline",
        },
    )
    assert_inside_safe_zone(output, "tiktok", min_lines=1)  # cues of at most 42 characters


def test_a_caption_placed_under_the_bottom_band_fails_the_check(user, dark_source, fast_presets):
    """The measurement can fail: the same caption at positionY 97 sits where the platforms
    draw the description."""
    output = render(
        user, dark_source, preset="tiktok", srt=CAPTION_SRT, subtitle_style={"positionY": 97}
    )
    with pytest.raises(AssertionError, match="bottom edge 1536"):
        assert_inside_safe_zone(output, "tiktok", min_lines=3)


def test_default_ass_margins_of_a_vertical_output_are_inside_the_safe_zone():
    ass = build_ass(CAPTION_SRT, width=1080, height=1920)
    style = next(line for line in ass.splitlines() if line.startswith("Style: Default,"))
    fields = style.split(",")
    margin_l, margin_r, margin_v = (int(v) for v in fields[-4:-1])
    assert fields[-5] == "2"  # bottom centre: MarginV is the block's distance from the bottom
    assert margin_l >= round(1080 * VERTICAL_SAFE_ZONE.left)
    assert margin_r >= round(1080 * VERTICAL_SAFE_ZONE.right)
    assert margin_v > round(1920 * VERTICAL_SAFE_ZONE.bottom)
