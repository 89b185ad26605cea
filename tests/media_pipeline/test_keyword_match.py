import pytest

from media_pipeline.ops.keyword_match import Cue, find_inserts, keyword_in, normalise


def test_normalise_strips_case_and_diacritics():
    assert normalise("Bună ziua, BUCUREȘTI!") == "buna ziua bucuresti"


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("bucuresti", "Am ajuns în București azi", True),
        ("Mountain bike", "a MOUNTAIN-BIKE ride", True),
        ("restaurant", "the restaurnt was full", True),  # a typo still matches
        ("ocean", "we stayed in the city", False),
    ],
)
def test_keyword_matching(keyword, text, expected):
    assert keyword_in(keyword, text, threshold=80) is expected


def test_inserts_follow_cues_clamped_and_never_overlap():
    cues = [
        Cue(1, 0.0, 0.2, "Welcome to the beach"),
        Cue(2, 0.5, 9.0, "the beach at sunset and the city"),
        Cue(3, 9.5, 11.0, "then the CITY lights"),
        Cue(4, 12.0, 13.0, "nothing here"),
    ]
    inserts = find_inserts(cues, [["beach"], ["city"]])
    assert [(i.source, i.cue, i.start, i.duration) for i in inserts] == [
        (0, 1, 0.0, 0.5),
        (0, 2, 0.5, 5.0),
        (1, 3, 9.5, 1.5),
    ]
