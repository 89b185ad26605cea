"""Subtitle styling through ASS, burned in with libass (ffmpeg's `ass` filter).

The ASS script's PlayResX/PlayResY equal the output video's width/height, so every size in a
style (font size, outline width, margins) is in output pixels. The default font, Lato, ships
with the `font_lato` package and reaches libass through the filter's `fontsdir` option, so the
default rendering never depends on the fonts installed on the machine.

Legible by default: without an explicit `fontSize` the size follows the output's height
(`default_font_size`: a capital letter's fill is ~3.7 % of the height, 71 px on 1080x1920), and
without an explicit `outlineWidth` the outline follows the font size (`default_outline_width`,
1/16 of it). Explicit values are used as given, in output pixels.

On vertical outputs the captions keep out of the platforms' interface (`safe_zone`): the side
margins leave the right-hand button column clear (on both sides, so captions stay centred and
long lines wrap before it), and the default position puts the block above the bottom band.
"""

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import font_lato
import pydantic
import srt

from media_pipeline.ops.ffmpeg_run import escape_filter_value
from media_pipeline.ops.safe_zone import VERTICAL_SAFE_ZONE, is_vertical
from media_pipeline.ops.srt_validation import require_valid_srt

DEFAULT_FONT = "Lato"
SIDE_MARGIN = 0.05  # of the width, left and right, so wrapped lines never touch the edges
# Vertical outputs: the safe zone's widest side inset, on both sides (captions stay centred).
VERTICAL_SIDE_MARGIN = max(VERTICAL_SAFE_ZONE.left, VERTICAL_SAFE_ZONE.right)
# The block's bottom edge 22 % above the frame's bottom: 2 % (38 px at 1920) above the vertical
# safe zone's 20 % bottom band, room for the outline and the lowest descenders.
DEFAULT_POSITION_Y = 78.0
# Default caption size, as a fraction of the output height. libass draws a Lato Bold capital
# 0.62 font-size units tall (measured: the fill of "HELLO" at font size 100 is 62 px), so 0.06
# of the height gives capitals 3.7 % of the height: 71 px at 1920 (the old fixed 48 gave 30 px,
# 1.5 %). "3.5 % of the height" is that cap height, the smallest common measure of a caption's
# size (lowercase letters with ascenders reach it too); `test_caption_legibility.py` measures
# it on rendered frames of every vertical preset.
FONT_SIZE_OF_HEIGHT = 0.06
OUTLINE_OF_FONT_SIZE = 1 / 16  # 3 px at font size 48, 7.2 px at 115
MIN_FONT_SIZE, MAX_FONT_SIZE = 8, 400
# Karaoke: spoken words turn gold; when the text itself is close to gold (yellow text), cyan.
DEFAULT_HIGHLIGHT, ALTERNATE_HIGHLIGHT = "#FFD700", "#00E5FF"
DISTINCT_COLOUR = 96  # the channel difference from which two colours tell apart at a glance
HEX_COLOR = r"^#[0-9A-Fa-f]{6}$"
# Font names go into a comma-separated Style line: no commas, no control characters.
FONT_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _\-]{0,63}$"
_FONT_NAME = re.compile(FONT_NAME)
# CSS generic families and keywords: no face of that name exists, the renderer picks its own.
GENERIC_FAMILIES = frozenset(
    "serif sans-serif monospace cursive fantasy system-ui ui-serif ui-sans-serif ui-monospace "
    "ui-rounded emoji math fangsong inherit initial unset revert".split()
)
_CSS_VAR = re.compile(r"^var\(\s*--[A-Za-z0-9_-]+\s*(,[^()]*)?\)$")

SCRIPT_INFO = """[Script Info]
; Edit Factory subtitles: sizes are output pixels (PlayRes = output size)
ScriptType: v4.00+
PlayResX: {width}
PlayResY: {height}
WrapStyle: 0
ScaledBorderAndShadow: yes
YCbCr Matrix: None
"""
STYLE_FORMAT = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"
)
EVENT_FORMAT = "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"
# ASS numpad alignments: the block's bottom (2) or top (8) edge sits MarginV from that edge.
BOTTOM_CENTER, TOP_CENTER = 2, 8


class SubtitleStyle(pydantic.BaseModel):
    """How subtitles look; the field names are the frontend's (camelCase).

    - fontSize: font size in output pixels (8-400); unset or null: scaled to the output's
      height (`default_font_size`: 115 on 1080x1920, 65 on 1920x1080). The web editor's sizes
      (12-72, for a 1080-wide frame) are output pixels on every 1080-wide preset.
    - fontFamily: a font family name, or a CSS font stack as the web editor saves it
      (`var(--font-montserrat), Montserrat, sans-serif`, `'Bebas Neue', cursive`). It is kept as
      given; the face rendered is `font_name`, the stack's first real family (CSS variables and
      generic families skipped, quotes removed; none: Lato). "Lato" (the default) is always
      available; another name is looked up in the system's fonts and libass falls back to a
      default face when it is missing.
    - textColor, outlineColor, highlightColor: `#RRGGBB`. highlightColor is the colour a word
      takes when it is spoken (karaoke, only with word timings); unset or null: gold (#FFD700),
      or cyan (#00E5FF) when the text colour is too close to gold to tell them apart.
    - outlineWidth: outline thickness in output pixels (0-20); unset or null: 1/16 of the font
      size (`default_outline_width`; 0 turns the outline off).
    - positionY: where the subtitles sit, as a PERCENTAGE of the frame height measured from
      the top (0-100). In the lower half (>= 50) it is the subtitle block's bottom edge and
      lines stack upward (85: the bottom edge 15% of the height above the frame's bottom); in
      the upper half it is the block's top edge and lines stack downward. So the text stays
      inside the frame at every value: 0 is flush with the top, 100 with the bottom. The
      default, 78, keeps the block above the bottom band of the 9:16 safe zone (where the
      platforms draw the description and the sound); a value past 80 puts it under that band.
    - bold: bold face.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    fontSize: int | None = pydantic.Field(None, ge=MIN_FONT_SIZE, le=MAX_FONT_SIZE)
    fontFamily: str = pydantic.Field(DEFAULT_FONT, min_length=1, max_length=300)
    textColor: str = pydantic.Field("#FFFFFF", pattern=HEX_COLOR)
    outlineColor: str = pydantic.Field("#000000", pattern=HEX_COLOR)
    outlineWidth: float | None = pydantic.Field(None, ge=0, le=20)
    positionY: float = pydantic.Field(DEFAULT_POSITION_Y, ge=0, le=100)
    bold: bool = True
    highlightColor: str | None = pydantic.Field(None, pattern=HEX_COLOR)

    @pydantic.field_validator("fontFamily")
    @classmethod
    def _font_stack(cls, value: str) -> str:
        font_families(value)  # ValueError names the item at fault
        return value

    @property
    def font_name(self) -> str:
        """The face to render: the first real family of `fontFamily` (Lato when none)."""
        return next(iter(font_families(self.fontFamily)), DEFAULT_FONT)

    def font_size_for(self, height: int) -> int:
        """The font size drawn on an output `height` pixels tall: fontSize, or the default."""
        return self.fontSize if self.fontSize is not None else default_font_size(height)

    def outline_for(self, height: int) -> float:
        """The outline drawn on an output `height` pixels tall: outlineWidth, or the default."""
        if self.outlineWidth is not None:
            return self.outlineWidth
        return default_outline_width(self.font_size_for(height))

    @property
    def highlight(self) -> str:
        """The karaoke colour drawn: highlightColor, or a default distinct from the text."""
        if self.highlightColor is not None:
            return self.highlightColor
        if colours_distinct(self.textColor, DEFAULT_HIGHLIGHT):
            return DEFAULT_HIGHLIGHT
        return ALTERNATE_HIGHLIGHT


def colours_distinct(first: str, second: str) -> bool:
    """Whether two `#RRGGBB` colours differ by DISTINCT_COLOUR in at least one channel."""
    return any(
        abs(int(first[i : i + 2], 16) - int(second[i : i + 2], 16)) >= DISTINCT_COLOUR
        for i in (1, 3, 5)
    )


def default_font_size(height: int) -> int:
    """The caption font size for an output `height` pixels tall (see FONT_SIZE_OF_HEIGHT)."""
    return min(max(round(height * FONT_SIZE_OF_HEIGHT), MIN_FONT_SIZE), MAX_FONT_SIZE)


def default_outline_width(font_size: int) -> float:
    """The outline for captions of `font_size`: 1/16 of it, at least 1 px, 0.1 px steps."""
    return max(1.0, round(font_size * OUTLINE_OF_FONT_SIZE, 1))


def font_families(stack: str) -> list[str]:
    """The real family names of a CSS font stack, in order: `var(...)` items and generic
    families are skipped, quotes removed. ValueError for an item that is none of these, or a
    name that cannot go into an ASS style (commas, control characters, over 64 characters)."""
    families = []
    for raw in stack.split(","):
        item = raw.strip()
        if _CSS_VAR.match(item) or item.lower() in GENERIC_FAMILIES:
            continue
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
            item = item[1:-1].strip()
        if not _FONT_NAME.match(item):
            raise ValueError(
                f"{raw.strip()!r} is not a font family name (letters, digits, spaces, '-' or '_'), "
                "a CSS variable or a generic family"
            )
        families.append(item)
    return families


class WordTiming(pydantic.BaseModel):
    """One spoken word, times in seconds on the video's timeline (as the TTS jobs write them)."""

    word: str
    start: float = pydantic.Field(ge=0)
    end: float = pydantic.Field(ge=0)


_WORDS = pydantic.TypeAdapter(list[WordTiming])


def default_fonts_dir() -> Path:
    """The directory of the shipped Lato TTFs, for the `ass` filter's `fontsdir`."""
    return Path(font_lato.font_directory)


def burn_subtitles_filter(ass_path: str | Path, fonts_dir: str | Path | None = None) -> str:
    """The `-vf` filter that burns an ASS file in, paths escaped for the filtergraph."""
    fonts = default_fonts_dir() if fonts_dir is None else fonts_dir
    return (
        f"ass=filename={escape_filter_value(str(ass_path))}"
        f":fontsdir={escape_filter_value(str(fonts))}"
    )


def ass_color(hex_color: str) -> str:
    """`#RRGGBB` → ASS `&H00BBGGRR` (alpha 00 = opaque; ASS stores blue first)."""
    red, green, blue = hex_color[1:3], hex_color[3:5], hex_color[5:7]
    return f"&H00{blue}{green}{red}".upper()


def ass_time(value: timedelta | float) -> str:
    """`H:MM:SS.cc` (ASS times are in centiseconds)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    centis = max(0, round(seconds * 100))
    hours, centis = divmod(centis, 360_000)
    minutes, centis = divmod(centis, 6_000)
    secs, centis = divmod(centis, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


# A backslash that would start an ASS escape (\N \n \h \{ \}) or, at the end of a piece, a tag
# we write after it: a word joiner (invisible, zero width) keeps it a plain backslash.
_ACTIVE_BACKSLASH = re.compile(r"\\(?=[nNh{}]|$)")


def escape_ass_text(text: str) -> str:
    """Plain text as ASS event text: braces and backslashes literal, newlines as `\\N`."""
    text = _ACTIVE_BACKSLASH.sub("\\\\\u2060", text)
    text = text.replace("{", "\\{").replace("}", "\\}")
    return text.replace("\r\n", "\n").replace("\n", "\\N")


# SRT's formatting: <i> <b> <u> become ASS tags; other tags (<font ...>) are dropped.
_SRT_TAG = re.compile(r"<(/?)([ibu])>|</?[A-Za-z][^<>]*>", re.IGNORECASE)


def srt_text_to_ass(text: str) -> str:
    pieces, position = [], 0
    for match in _SRT_TAG.finditer(text):
        pieces.append(escape_ass_text(text[position : match.start()]))
        if match.group(2):
            tag = match.group(2).lower()
            # An empty value resets to the style's own (bold may be the style's default).
            pieces.append(f"{{\\{tag}}}" if match.group(1) else f"{{\\{tag}1}}")
        position = match.end()
    pieces.append(escape_ass_text(text[position:]))
    return "".join(pieces)


def _loose(word: str) -> str:
    """A word compared without case or punctuation ("World!" is "world")."""
    return "".join(char for char in word.casefold() if char.isalnum())


def _plain_text(text: str) -> str:
    return _SRT_TAG.sub("", text)


def _style_line(name: str, style: SubtitleStyle, width: int, height: int, karaoke: bool) -> str:
    text, highlight = ass_color(style.textColor), ass_color(style.highlight)
    # Karaoke: words not yet spoken show SecondaryColour and turn PrimaryColour when spoken.
    primary, secondary = (highlight, text) if karaoke else (text, text)
    font_size, outline = style.font_size_for(height), style.outline_for(height)
    side = _side_margin(width, height, outline, font_size)
    alignment, margin_v = _vertical_placement(style.positionY, height)
    fields = [
        name, style.font_name, font_size, primary, secondary,
        ass_color(style.outlineColor), "&H80000000", -1 if style.bold else 0, 0, 0, 0,
        100, 100, 0, 0, 1, f"{outline:g}", 0, alignment, side, side, margin_v, 1,
    ]  # fmt: skip
    return "Style: " + ",".join(str(f) for f in fields)


# Glyph ink can pass a line's advance width (bold overhangs, anti-aliasing): measured 1.8 px at
# font size 115, so 3 % of the font size is kept free besides the outline.
INK_OVERHANG = 0.03


def _side_margin(width: int, height: int, outline: float, font_size: int) -> int:
    """MarginL = MarginR in pixels: libass wraps lines to fit between them, and the outline,
    drawn outside the glyphs, is kept inside too on vertical outputs (with the ink overhang)."""
    if is_vertical(width, height):
        inset = math.ceil(outline + font_size * INK_OVERHANG)
        return round(width * VERTICAL_SIDE_MARGIN) + inset
    return round(width * SIDE_MARGIN)


def _vertical_placement(position_y: float, height: int) -> tuple[int, int]:
    """(ASS alignment, MarginV in pixels) for positionY; see SubtitleStyle."""
    if position_y >= 50:
        return BOTTOM_CENTER, round(height * (100 - position_y) / 100)
    return TOP_CENTER, round(height * position_y / 100)


def build_ass(
    subtitles: str | bytes | Iterable[srt.Subtitle],
    *,
    width: int,
    height: int,
    style: SubtitleStyle | Mapping | None = None,
    words: Sequence[Mapping] | None = None,
    karaoke_fill: bool = True,
) -> str:
    """An ASS script for a `width`x`height` output from cues (or SRT text, validated strictly:
    InvalidSrtError when it is not valid).

    With `words` (`[{word, start, end}]`, seconds), each cue's words light up in the highlight
    colour as they are spoken: `\\kf` sweeps each word (karaoke_fill), `\\k` switches it at once.
    A cue with no timed words is shown plainly."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid output size {width}x{height}")
    style = SubtitleStyle.model_validate(style or {})
    cues = _cues(subtitles)
    timed = sorted(_WORDS.validate_python(list(words or [])), key=lambda w: w.start)
    tag = "kf" if karaoke_fill else "k"
    events = []
    for cue in cues:
        cue_words = _words_in(cue, timed)
        if cue_words:
            text = _karaoke_text(cue, cue_words, tag)
        else:
            text = srt_text_to_ass(cue.content)
        name = "Karaoke" if cue_words else "Default"
        events.append(
            f"Dialogue: 0,{ass_time(cue.start)},{ass_time(cue.end)},{name},,0,0,0,,{text}"
        )
    return "\n".join(
        [
            SCRIPT_INFO.format(width=width, height=height),
            "[V4+ Styles]",
            STYLE_FORMAT,
            _style_line("Default", style, width, height, karaoke=False),
            _style_line("Karaoke", style, width, height, karaoke=True),
            "",
            "[Events]",
            EVENT_FORMAT,
            *events,
            "",
        ]
    )


def _cues(subtitles) -> list[srt.Subtitle]:
    if isinstance(subtitles, str | bytes):
        return require_valid_srt(subtitles).cues
    return list(subtitles)


def _words_in(cue: srt.Subtitle, words: list[WordTiming]) -> list[WordTiming]:
    """The words spoken during the cue (by their midpoint)."""
    start, end = cue.start.total_seconds(), cue.end.total_seconds()
    return [w for w in words if start <= (w.start + w.end) / 2 < end and w.word.strip()]


def _karaoke_text(cue: srt.Subtitle, words: list[WordTiming], tag: str) -> str:
    """`{\\k<gap>}{\\kf<d1>}word1 {\\kf<d2>}word2...`: durations in centiseconds counted from the
    cue's start, so rounding never drifts. The cue's own line breaks and spelling (case,
    punctuation) are kept when its words are the timed words."""
    labels, breaks = _word_labels(cue.content, words)
    cursor = round(cue.start.total_seconds() * 100)
    end = round(cue.end.total_seconds() * 100)
    parts = []
    for i, (word, label) in enumerate(zip(words, labels, strict=True)):
        start = min(max(round(word.start * 100), cursor), end)
        if start > cursor:
            parts.append(f"{{\\k{start - cursor}}}")  # silence before the word: nothing lit
        stop = min(max(round(word.end * 100), start), end)
        separator = "" if i == len(words) - 1 else ("\\N" if i in breaks else " ")
        parts.append(f"{{\\{tag}{stop - start}}}{escape_ass_text(label)}{separator}")
        cursor = stop
    return "".join(parts)


def _word_labels(content: str, words: list[WordTiming]) -> tuple[list[str], set[int]]:
    """The text to show for each word, and after which words a line breaks."""
    lines = [line.split() for line in _plain_text(content).split("\n")]
    tokens = [token for line in lines for token in line]
    if [_loose(t) for t in tokens] != [_loose(w.word) for w in words]:
        return [w.word.strip() for w in words], set()
    breaks, count = set(), 0
    for line in lines[:-1]:
        count += len(line)
        if line:
            breaks.add(count - 1)
    return tokens, breaks
