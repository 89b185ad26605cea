"""SRT validation, used wherever SRT enters the system (uploads, job parameters, generated text).

The `srt` library parses, but it is lenient by design (it accepts '.' for ',', one-digit hours,
missing cue numbers...). Validation therefore reads the raw blocks first and checks them
strictly, then lets the library parse each block, then checks the timeline. Every finding is a
dict `{"cue": <number or None>, "line": <line in the text or None>, "code", "message"}` so the
API can answer 422 with cue-level errors.

Error codes: encoding, empty, malformed, cue_number, timestamp, end_before_start, order,
overlap, empty_text. Warning codes: numbering, missing_blank_line, overlap (when fixed),
line_length.
"""

from typing import Annotated

import pydantic
import srt

from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.srt_checks import (
    SrtValidation,
    check_block,
    check_timeline,
    decode,
    issue,
    split_blocks,
)

MAX_LINE_LENGTH = 42


class InvalidSrtError(InvalidMediaError):
    """Invalid SRT: permanent (retrying cannot help). `errors` holds the structured findings."""

    def __init__(self, message: str, errors: list[dict]):
        super().__init__(message)
        self.errors = errors


def validate_srt(
    data: str | bytes, *, max_line_length: int = MAX_LINE_LENGTH, fix_overlaps: bool = False
) -> SrtValidation:
    """Check SRT text (or raw bytes, which must be UTF-8) strictly; see the module docstring."""
    result = SrtValidation()
    text = decode(data, result)
    if text is None:
        return result
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        result.errors.append(issue("empty", "the SRT file is empty: it has no cues"))
        return result
    timing_lines: list[int] = []  # where each parsed cue's timing line is, for the findings
    for block in split_blocks(text):
        parsed = check_block(block, result, max_line_length)
        if parsed is not None:
            result.cues.append(parsed[0])
            timing_lines.append(parsed[1])
    if not result.cues and not result.errors:
        result.errors.append(issue("empty", "the SRT file has no cues"))
    check_timeline(result, timing_lines, fix_overlaps)
    for findings in (result.errors, result.warnings):
        findings.sort(key=lambda f: (f["line"] is None, f["line"] or 0))  # in file order
    result.text = srt.compose(result.cues, reindex=True) if result.ok else ""
    return result


def require_valid_srt(data: str | bytes, **options) -> SrtValidation:
    """`validate_srt`, raising InvalidSrtError (a permanent job failure) when there are errors."""
    result = validate_srt(data, **options)
    if not result.ok:
        raise InvalidSrtError(result.summary(), result.errors)
    return result


def checked_srt(text: str) -> str:
    """For params models: the normalised SRT, or a ValueError naming its first problems."""
    result = validate_srt(text)
    if not result.ok:
        raise ValueError(f"invalid SRT: {result.summary()}")
    return result.text


# A job parameter holding SRT text, validated strictly when the job is created.
SrtText = Annotated[str, pydantic.Field(max_length=200_000), pydantic.AfterValidator(checked_srt)]
