"""The pure pieces of the render options: the sync policies' target length and timeline, and the
cue rule (cues measured against the output: dropped or cut)."""

import pytest

from media_pipeline.jobtypes.render_notes import cue_warnings, cues_outside
from media_pipeline.ops.render import Piece, SyncMode, plan_timeline, timeline_target

CLIP = [Piece("clip.mp4", 0.0, 4.0)]


@pytest.mark.parametrize(
    ("mode", "voice", "length", "pieces"),
    [
        (SyncMode.LOOP, 1.0, 1.0, 1),  # the voice-over's length, the clip cut
        (SyncMode.LOOP, 6.0, 6.0, 2),  # ... or repeated to reach it
        (SyncMode.TRIM, 1.0, 1.0, 1),
        (SyncMode.TRIM, 6.0, 4.0, 1),  # never past the clip's end
        (SyncMode.KEEP, 1.0, 4.0, 1),  # the clip's length whatever the voice-over
        (SyncMode.KEEP, 6.0, 4.0, 1),
        (SyncMode.KEEP, None, 4.0, 1),  # no voice-over: the clip's length in every mode
        (SyncMode.LOOP, None, 4.0, 1),
    ],
)
def test_sync_policies_plan_the_timeline(mode, voice, length, pieces):
    target = timeline_target(mode, pieces_duration=4.0, voice_duration=voice)
    timeline = plan_timeline(CLIP, target, mode=mode)
    assert sum(p.duration for p in timeline) == pytest.approx(length)
    assert len(timeline) == pieces


SRT = (
    "1\n00:00:00,000 --> 00:00:01,000\nIn\n\n"
    "2\n00:00:01,200 --> 00:00:02,500\nAcross\n\n"
    "3\n00:00:02,500 --> 00:00:03,000\nLater\n\n"
    "4\n00:00:03,000 --> 00:00:04,000\nAfter\n"
)


def test_cues_are_measured_against_the_output():
    outside = cues_outside(SRT, 2.0)
    assert [(c["index"], c["outcome"]) for c in outside] == [
        (2, "cut"),
        (3, "dropped"),
        (4, "dropped"),
    ]
    assert outside[0] == {"index": 2, "start": 1.2, "end": 2.5, "text": "Across", "outcome": "cut"}
    assert cue_warnings(outside, 2.0) == [
        "Subtitle cues 3 and 4 start after the render ends (2.00 s) and were not shown; "
        "choose sync 'loop' or 'keep', or edit the subtitles.",
        "Subtitle cue 2 runs past the render's end (2.00 s) and was cut there.",
    ]
    # A cue ending exactly at the end fits; one starting exactly there is never shown.
    assert [(c["index"], c["outcome"]) for c in cues_outside(SRT, 2.5)] == [
        (3, "dropped"),
        (4, "dropped"),
    ]
    assert cues_outside(SRT, 4.0) == [] and cues_outside(None, 1.0) == []
