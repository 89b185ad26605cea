"""SRT validation: one case per rule, each asserting the code and the cue number reported."""

from datetime import timedelta

import pytest

from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.srt_validation import InvalidSrtError, require_valid_srt, validate_srt


def cue(number, start, end, *text):
    return f"{number}\n{start} --> {end}\n" + "\n".join(text) + "\n"


def srt_of(*cues):
    return "\n".join(cues)


GOOD = srt_of(
    cue(1, "00:00:01,000", "00:00:02,500", "Hello there"),
    cue(2, "00:00:03,000", "00:00:04,000", "Two lines", "of text"),
)


def codes(findings):
    return [(f["cue"], f["code"]) for f in findings]


def test_valid_srt_parses_with_the_library_and_normalises():
    result = validate_srt(GOOD.replace("\n", "\r\n").encode("utf-8"))
    assert result.ok, result.errors
    assert result.warnings == []
    assert [c.index for c in result.cues] == [1, 2]
    assert result.cues[0].start == timedelta(seconds=1)
    assert result.cues[0].end == timedelta(seconds=2.5)
    assert result.cues[1].content == "Two lines\nof text"
    assert result.text == GOOD + "\n"  # LF only, blank line after each cue
    assert "\r" not in result.text
    assert result.as_dict() == {"ok": True, "cue_count": 2, "errors": [], "warnings": []}


@pytest.mark.parametrize("bom", ["\ufeff".encode(), "\ufeff"])
def test_bom_is_stripped(bom):
    data = bom + (GOOD.encode() if isinstance(bom, bytes) else GOOD)
    result = validate_srt(data)
    assert result.ok, result.errors
    assert result.cues[0].index == 1
    assert not result.text.startswith("\ufeff")


def test_bytes_that_are_not_utf8_are_an_encoding_error_naming_the_likely_encoding():
    data = srt_of(cue(1, "00:00:01,000", "00:00:02,000", "Déjà vu, café")).encode("cp1252")
    result = validate_srt(data)
    assert not result.ok
    assert codes(result.errors) == [(None, "encoding")]
    error = result.errors[0]
    assert error["line"] == 3
    assert "not valid UTF-8" in error["message"]
    assert "0xe9" in error["message"]  # 'é' in Windows-1252: the first undecodable byte
    assert "Windows-1252" in error["message"]
    assert "Déjà vu, café" in error["message"]
    assert result.cues == []


def test_utf16_and_binary_data_are_encoding_errors():
    assert codes(validate_srt(GOOD.encode("utf-16")).errors) == [(None, "encoding")]
    assert "UTF-16" in validate_srt(GOOD.encode("utf-16")).errors[0]["message"]
    binary = validate_srt(b"\x00\x01\x02 not text")
    assert codes(binary.errors) == [(None, "encoding")]


@pytest.mark.parametrize("data", ["", b"", "\ufeff", "  \n\n \r\n"])
def test_empty_input_is_an_error(data):
    result = validate_srt(data)
    assert codes(result.errors) == [(None, "empty")]


@pytest.mark.parametrize(
    "timing",
    [
        "00:00:05.000 --> 00:00:06,000",  # '.' instead of ','
        "0:00:05,000 --> 00:00:06,000",  # one-digit hours
        "00:00:05,00 --> 00:00:06,000",  # two-digit milliseconds
        "00:00:05,000 -> 00:00:06,000",  # wrong arrow
        "00:00:05,000 --> 00:00:06,000 X1:10 X2:20",  # trailing coordinates
        "00:00:05,000 --> 00:61:06,000",  # minutes over 59
    ],
)
def test_timestamps_are_checked_strictly_on_the_raw_block(timing):
    data = GOOD + "\n3\n" + timing + "\nThird\n"
    result = validate_srt(data)
    assert "timestamp" in [e["code"] for e in result.errors], result.errors
    error = next(e for e in result.errors if e["code"] == "timestamp")
    assert error["cue"] == 3
    assert error["line"] == 11
    assert "HH:MM:SS,mmm" in error["message"] or "over 59" in error["message"]


def test_the_srt_library_alone_would_accept_what_strict_validation_rejects():
    import srt

    lenient = GOOD.replace("00:00:03,000", "00:00:03.000")
    assert len(list(srt.parse(lenient))) == 2
    assert codes(validate_srt(lenient).errors) == [(2, "timestamp")]


def test_missing_cue_number_and_missing_timing_line():
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:02,000", "One"),
        "00:00:03,000 --> 00:00:04,000\nno number\n",
        "3\njust text, no timing\n",
    )
    result = validate_srt(data)
    assert codes(result.errors) == [(2, "cue_number"), (3, "timestamp")]
    assert result.errors[1]["line"] == 9


def test_text_outside_any_cue_is_malformed():
    data = GOOD + "\nstray words after a blank line\n"
    result = validate_srt(data)
    assert codes(result.errors) == [(None, "malformed")]
    assert result.errors[0]["line"] == 10


def test_end_must_be_after_start():
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:02,000", "fine"),
        cue(2, "00:00:05,000", "00:00:04,000", "backwards"),
        cue(3, "00:00:06,000", "00:00:06,000", "zero length"),
    )
    result = validate_srt(data)
    assert codes(result.errors) == [(2, "end_before_start"), (3, "end_before_start")]
    assert result.errors[0]["line"] == 6
    assert result.text == ""  # no normalised text for invalid input


def test_starts_must_be_in_order():
    data = srt_of(
        cue(1, "00:00:05,000", "00:00:06,000", "later"),
        cue(2, "00:00:01,000", "00:00:02,000", "earlier"),
    )
    assert codes(validate_srt(data).errors) == [(2, "order")]


def test_overlaps_are_errors_by_default():
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:03,000", "one"),
        cue(2, "00:00:02,000", "00:00:04,000", "two"),
        cue(3, "00:00:05,000", "00:00:06,000", "three"),
        cue(4, "00:00:05,500", "00:00:07,000", "four"),
    )
    result = validate_srt(data)
    assert codes(result.errors) == [(2, "overlap"), (4, "overlap")]
    assert (
        "cue 2 starts (00:00:02,000) before cue 1 ends (00:00:03,000)"
        in (result.errors[0]["message"])
    )


def test_overlaps_fixed_on_request_move_the_previous_end_and_warn():
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:03,000", "one"),
        cue(2, "00:00:02,000", "00:00:04,000", "two"),
    )
    result = validate_srt(data, fix_overlaps=True)
    assert result.ok, result.errors
    assert codes(result.warnings) == [(2, "overlap")]
    assert result.cues[0].end == timedelta(seconds=2)
    assert result.cues[1].start == timedelta(seconds=2)  # the later cue keeps its timing
    assert "00:00:01,000 --> 00:00:02,000" in result.text


def test_an_overlap_with_the_same_start_cannot_be_fixed():
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:03,000", "one"),
        cue(2, "00:00:01,000", "00:00:02,000", "two"),
    )
    result = validate_srt(data, fix_overlaps=True)
    assert codes(result.errors) == [(2, "overlap")]
    assert "cannot be fixed" in result.errors[0]["message"]


def test_empty_text_is_an_error():
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:02,000", "text"),
        cue(2, "00:00:03,000", "00:00:04,000"),
        cue(3, "00:00:05,000", "00:00:06,000", "   "),
    )
    result = validate_srt(data)
    assert codes(result.errors) == [(2, "empty_text"), (3, "empty_text")]


def test_long_lines_are_warnings_measured_without_formatting_tags():
    long_line = "x" * 43
    data = srt_of(
        cue(1, "00:00:01,000", "00:00:02,000", "<i>" + "y" * 42 + "</i>"),
        cue(2, "00:00:03,000", "00:00:04,000", "short", long_line),
    )
    result = validate_srt(data)
    assert result.ok
    assert codes(result.warnings) == [(2, "line_length")]
    assert result.warnings[0]["line"] == 8
    assert "43 characters" in result.warnings[0]["message"]
    assert codes(validate_srt(data, max_line_length=50).warnings) == []


def test_numbering_and_a_missing_blank_line_are_warnings():
    data = (
        cue(5, "00:00:01,000", "00:00:02,000", "five")
        + cue(6, "00:00:03,000", "00:00:04,000", "six")  # no blank line between
    )
    result = validate_srt(data)
    assert result.ok, result.errors
    assert codes(result.warnings) == [(5, "numbering"), (6, "missing_blank_line")]
    assert [c.content for c in result.cues] == ["five", "six"]
    assert result.text.startswith("1\n00:00:01,000")  # renumbered from 1


def test_require_valid_srt_raises_a_permanent_error_with_the_findings():
    data = srt_of(
        cue(1, "00:00:05,000", "00:00:04,000", "a"),
        cue(2, "00:00:06,000", "00:00:07,000", ""),
    )
    with pytest.raises(InvalidSrtError) as caught:
        require_valid_srt(data)
    assert isinstance(caught.value, InvalidMediaError) and caught.value.permanent
    assert codes(caught.value.errors) == [(1, "end_before_start"), (2, "empty_text")]
    assert str(caught.value).startswith("invalid SRT: cue 1 ends (00:00:04,000) at or before")
    assert require_valid_srt(GOOD).ok
