"""The strict checks behind `srt_validation.validate_srt`, each adding its findings to one
SrtValidation: the encoding, the raw cue blocks (numbers, timing lines, text), then the timeline
(numbering, order, overlaps). A finding is `{"cue", "line", "code", "message"}`.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

import srt

_TIMING = re.compile(
    r"^(\d{2}):(\d{2}):(\d{2}),(\d{3})[ \t]+-->[ \t]+(\d{2}):(\d{2}):(\d{2}),(\d{3})[ \t]*$"
)
_CUE_NUMBER = re.compile(r"^\d+$")
# Formatting that takes no room on screen: SRT's HTML-like tags and ASS override blocks.
_INVISIBLE_MARKUP = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class SrtValidation:
    """What validate_srt found: the parsed cues, the errors and warnings, the normalised text."""

    cues: list[srt.Subtitle] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    # The normalised SRT: LF line ends, no BOM, cues renumbered from 1, overlaps fixed when
    # asked. Meaningful when `ok`.
    text: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, limit: int = 3) -> str:
        """A readable one-line account of the first errors."""
        shown = "; ".join(e["message"] for e in self.errors[:limit])
        more = len(self.errors) - limit
        return f"invalid SRT: {shown}" + (f" (and {more} more)" if more > 0 else "")

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "cue_count": len(self.cues),
            "errors": self.errors,
            "warnings": self.warnings,
        }


def issue(code: str, message: str, cue: int | None = None, line: int | None = None) -> dict:
    return {"cue": cue, "line": line, "code": code, "message": message}


@dataclass
class CueBlock:
    """A raw cue block: its lines and the line number (1-based) of its first line."""

    lines: list[str]
    first_line: int
    ordinal: int  # position among the blocks, 1-based
    missing_blank_line: bool = False

    @property
    def number(self) -> int | None:
        head = self.lines[0].strip()
        return int(head) if _CUE_NUMBER.match(head) else None

    @property
    def cue(self) -> int:
        """The number to report: the one written in the file, else the block's position."""
        number = self.number
        return self.ordinal if number is None else number


# --- encoding ---------------------------------------------------------------------------------


def decode(data: str | bytes, result: SrtValidation) -> str | None:
    if isinstance(data, str):
        text = data
    else:
        text = _decode_bytes(bytes(data), result)
        if text is None:
            return None
    if "\x00" in text:
        result.errors.append(
            issue("encoding", "the file contains NUL characters: it is binary, not SRT text")
        )
        return None
    return text


def _decode_bytes(data: bytes, result: SrtValidation) -> str | None:
    if data.startswith(_UTF16_BOMS):
        result.errors.append(
            issue("encoding", "the file is UTF-16 text; save it as UTF-8 and upload it again")
        )
        return None
    data = data.removeprefix(_UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.errors.append(_encoding_error(data, exc))
        return None


def _encoding_error(data: bytes, exc: UnicodeDecodeError) -> dict:
    line = data.count(b"\n", 0, exc.start) + 1
    message = f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} on line {line})"
    try:
        # Not a guess we act on: only a hint for the person who has to re-save the file.
        sample_start = max(0, data.rfind(b"\n", 0, exc.start) + 1)
        sample_end = data.find(b"\n", exc.start)
        sample = data[sample_start : sample_end if sample_end >= 0 else None].decode("cp1252")
        message += (
            f"; it looks like Windows-1252/Latin-1 text ({sample.strip()[:60]!r}): "
            "save it as UTF-8 and upload it again"
        )
    except UnicodeDecodeError:
        message += "; save it as UTF-8 and upload it again"
    return issue("encoding", message, line=line)


# --- blocks -----------------------------------------------------------------------------------


def split_blocks(text: str) -> list[CueBlock]:
    """Blocks separated by blank lines. A cue number followed by a timing line also starts a new
    block (the blank line before it is missing), as players do."""
    lines = text.split("\n")
    blocks: list[CueBlock] = []
    current: list[str] = []
    start = 0

    def close() -> None:
        if current:
            blocks.append(CueBlock(list(current), start + 1, len(blocks) + 1))

    for i, line in enumerate(lines):
        if not line.strip():
            close()
            current = []
            continue
        starts_cue = (
            len(current) >= 2
            and _CUE_NUMBER.match(line.strip())
            and i + 1 < len(lines)
            and "-->" in lines[i + 1]
        )
        if starts_cue:
            close()
            current = []
        if not current:
            start = i
        current.append(line)
    close()
    _flag_missing_blank_lines(blocks, lines)
    return blocks


def _flag_missing_blank_lines(blocks: list[CueBlock], lines: list[str]) -> None:
    for block in blocks[1:]:
        before = block.first_line - 2  # index of the line before the block
        if before >= 0 and lines[before].strip():
            block.missing_blank_line = True


def check_block(
    block: CueBlock, result: SrtValidation, max_line_length: int
) -> tuple[srt.Subtitle, int] | None:
    """Strict checks of one raw block; returns its parsed cue and the line number of its timing
    line, or None when it has no cue."""
    lines, first = block.lines, block.first_line
    if "-->" in lines[0]:
        result.errors.append(
            issue(
                "cue_number",
                f"cue {block.cue} has no cue number before its timing line (line {first})",
                block.cue,
                first,
            )
        )
        timing_at = 0
    elif block.number is not None and len(lines) > 1 and "-->" in lines[1]:
        timing_at = 1
    elif block.number is not None:
        result.errors.append(
            issue(
                "timestamp",
                f"cue {block.cue} has no timing line 'HH:MM:SS,mmm --> HH:MM:SS,mmm' "
                f"(line {first + 1})",
                block.cue,
                first + 1,
            )
        )
        return None
    else:
        result.errors.append(
            issue(
                "malformed",
                f"line {first}: text outside any cue ({lines[0].strip()[:40]!r}); a blank line "
                "inside a cue's text, or a missing cue number and timing line?",
                None,
                first,
            )
        )
        return None
    if block.missing_blank_line:
        result.warnings.append(
            issue("missing_blank_line", f"no blank line before cue {block.cue}", block.cue, first)
        )
    _check_timing_line(block, lines[timing_at], first + timing_at, result)
    cue = _parse_block(block, timing_at, result)
    if cue is None:
        return None
    _check_text(block, cue, result, max_line_length)
    return cue, first + timing_at


def _check_timing_line(block: CueBlock, timing: str, line: int, result: SrtValidation) -> None:
    match = _TIMING.match(timing.strip())
    problem = None
    if not match:
        problem = f"timing line {timing.strip()[:60]!r} is not 'HH:MM:SS,mmm --> HH:MM:SS,mmm'"
    elif any(int(match.group(g)) > 59 for g in (2, 3, 6, 7)):
        problem = f"timing line {timing.strip()!r} has minutes or seconds over 59"
    if problem:
        result.errors.append(
            issue("timestamp", f"cue {block.cue}: {problem} (line {line})", block.cue, line)
        )


def _parse_block(block: CueBlock, timing_at: int, result: SrtValidation):
    raw = "\n".join(block.lines[timing_at:]) + "\n"
    try:
        parsed = list(srt.parse(raw))
    except (srt.SRTParseError, srt.TimestampParseError, ValueError):
        parsed = []
    if len(parsed) != 1:
        if not any(e["cue"] == block.cue for e in result.errors):
            result.errors.append(
                issue(
                    "malformed",
                    f"cue {block.cue} cannot be parsed",
                    block.cue,
                    block.first_line,
                )
            )
        return None
    cue = parsed[0]
    cue.index = block.cue
    cue.content = "\n".join(line.rstrip() for line in cue.content.split("\n")).strip("\n")
    return cue


def _check_text(block: CueBlock, cue, result: SrtValidation, max_line_length: int) -> None:
    if not cue.content.strip():
        result.errors.append(
            issue("empty_text", f"cue {block.cue} has no text", block.cue, block.first_line)
        )
        return
    text_first_line = block.first_line + len(block.lines) - len(cue.content.split("\n"))
    for offset, text_line in enumerate(cue.content.split("\n")):
        visible = len(_INVISIBLE_MARKUP.sub("", text_line))
        if visible > max_line_length:
            result.warnings.append(
                issue(
                    "line_length",
                    f"cue {block.cue}: line {text_first_line + offset} has {visible} "
                    f"characters (more than {max_line_length})",
                    block.cue,
                    text_first_line + offset,
                )
            )


# --- timeline ---------------------------------------------------------------------------------


def check_timeline(result: SrtValidation, lines: list[int], fix_overlaps: bool) -> None:
    renumbered = False
    for position, (cue, line) in enumerate(zip(result.cues, lines, strict=True), start=1):
        if cue.index != position and not renumbered:
            renumbered = True  # said once: a file numbered from 0 would say it for every cue
            result.warnings.append(
                issue(
                    "numbering",
                    f"cue numbers do not run 1, 2, 3...: cue {cue.index} is cue number "
                    f"{position}; the normalised SRT is renumbered",
                    cue.index,
                    line,
                )
            )
        if cue.end <= cue.start:
            result.errors.append(
                issue(
                    "end_before_start",
                    f"cue {cue.index} ends ({_ts(cue.end)}) at or before it starts "
                    f"({_ts(cue.start)})",
                    cue.index,
                    line,
                )
            )
        if position > 1:
            _check_pair(result.cues[position - 2], cue, line, result, fix_overlaps)


def _check_pair(previous, cue, line: int, result: SrtValidation, fix_overlaps: bool) -> None:
    if cue.start < previous.start:
        result.errors.append(
            issue(
                "order",
                f"cue {cue.index} starts ({_ts(cue.start)}) before cue {previous.index} "
                f"({_ts(previous.start)}): cues must be in time order",
                cue.index,
                line,
            )
        )
        return
    if cue.start >= previous.end:
        return
    overlap = (
        f"cue {cue.index} starts ({_ts(cue.start)}) before cue {previous.index} ends "
        f"({_ts(previous.end)})"
    )
    fixable = cue.start > previous.start
    if fix_overlaps and fixable:
        previous.end = cue.start  # the earlier cue gives way; the later one keeps its timing
        result.warnings.append(
            issue(
                "overlap",
                f"{overlap}: cue {previous.index} now ends at {_ts(cue.start)}",
                cue.index,
                line,
            )
        )
    else:
        reason = " (same start: cannot be fixed)" if fix_overlaps else ""
        result.errors.append(issue("overlap", overlap + reason, cue.index, line))


def _ts(value: timedelta) -> str:
    return srt.timedelta_to_srt_timestamp(value)
