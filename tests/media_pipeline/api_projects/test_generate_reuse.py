"""Project generation states whether and where its variants share source time, through the
real forking worker and ffmpeg: with enough material the clips are disjoint and the result says
so; with too little they share time and the result names the ranges (checked against the
clips' own segments), in the job result and in the project's progress answer."""

import itertools

import pytest

from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.models import Clip, Project
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_projects.conftest import API

pytestmark = pytest.mark.django_db(transaction=True)
REUSE_KEYS = {"reused_segments", "shared_time", "shared_seconds", "note"}


def overlap_seconds(first: list[dict], second: list[dict]) -> float:
    """Seconds of source time two clips' segments (one source) have in common."""
    return sum(
        max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
        for a in first
        for b in second
    )


def union_seconds(ranges: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(ranges):
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total


def pairwise_shared(clips: list[Clip]) -> list[tuple[float, float]]:
    """Every range that two clips both use, computed from their stored segments."""
    return [
        (max(a["start"], b["start"]), min(a["end"], b["end"]))
        for one, two in itertools.combinations(clips, 2)
        for a in one.segments
        for b in two.segments
        if min(a["end"], b["end"]) > max(a["start"], b["start"])
    ]


def generate(api, project, **form) -> tuple[Job, list[Clip], dict]:
    response = api.post(f"{API}/projects/{project.id}/{form.pop('route')}", **form)
    assert response.status_code == 202, response.content
    run_burst_worker()
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    clips = list(Clip.objects.filter(project=project).order_by("variant_index"))
    progress = api.get(f"{API}/projects/{project.id}/progress").json()
    return job, clips, progress


def test_a_long_enough_source_gives_disjoint_clips_and_says_so(api, make_project, make_source):
    """10 s of source for 3 clips of 3 s: no clip shares a moment with another. (Dealing whole
    analysed segments round-robin, as generation did, made clips 1 and 3 share time here.)"""
    project = make_project(target_duration=3)
    source = make_source(seconds=10)
    job, clips, progress = generate(
        api,
        project,
        route="generate",
        data={"source_video_id": source.id, "variant_count": 3},
    )
    assert len(clips) == 3
    assert all(c.duration == pytest.approx(3, abs=0.15) for c in clips)
    assert pairwise_shared(clips) == []
    assert {k: job.result[k] for k in REUSE_KEYS} == {
        "reused_segments": False,
        "shared_time": [],
        "shared_seconds": 0,
        "note": "",
    }
    assert progress["reuse"] == {k: job.result[k] for k in REUSE_KEYS}


def test_a_short_source_reuses_time_and_names_the_ranges(api, make_project, make_source):
    """4 s of source for 3 clips of 3 s: they must share, and every shared range is named with
    the variants and clips sharing it, adding up to what the clips' segments share."""
    project = make_project(target_duration=3)
    source = make_source(seconds=4)
    job, clips, progress = generate(
        api,
        project,
        route="generate",
        data={"source_video_id": source.id, "variant_count": 3},
    )
    result = job.result
    assert result["reused_segments"] is True
    shared = result["shared_time"]
    assert shared, result
    expected = pairwise_shared(clips)
    assert result["shared_seconds"] == pytest.approx(union_seconds(expected), abs=0.01)
    assert result["shared_seconds"] == pytest.approx(
        union_seconds([(s["start"], s["end"]) for s in shared]), abs=0.01
    )
    ids = [c.id for c in clips]
    for entry in shared:
        assert entry["source"] == "source" and len(entry["variants"]) >= 2
        assert entry["clip_ids"] == [ids[n - 1] for n in entry["variants"]]
        span = [{"start": entry["start"], "end": entry["end"]}]
        for n in entry["variants"]:  # each named clip really shows the whole range
            assert overlap_seconds(clips[n - 1].segments, span) == pytest.approx(
                entry["end"] - entry["start"], abs=0.002
            )
    first = shared[0]
    assert f"{first['start']:g}-{first['end']:g} s" in result["note"]
    assert result["note"].startswith("the source is too short for disjoint variants: variants ")
    assert progress["reuse"] == {k: result[k] for k in REUSE_KEYS}
    assert Project.objects.get(id=project.id).status == Project.Status.READY_FOR_TRIAGE


def test_segments_with_enough_time_are_split_not_shared(
    api, make_project, make_source, make_segment
):
    """Four 3 s segments for 3 clips of 4 s, in sequence: each clip starts on its own segment
    and the last segment is split three ways (before, clips 1 and 2 both used segment 2)."""
    source = make_source(seconds=12)
    segments = [make_segment(source, 3.0 * n, 3.0 * (n + 1)) for n in range(4)]
    project = make_project()
    job, clips, progress = generate(
        api,
        project,
        route="generate-from-segments",
        data={"segment_ids": [s.id for s in segments], "variant_count": 3, "target_duration": 4,
              "order": "sequential"},
        content_type="application/json",
    )  # fmt: skip
    assert [c.segments[0]["segment_id"] for c in clips] == [s.id for s in segments[:3]]
    assert pairwise_shared(clips) == []
    assert [round(sum(s["end"] - s["start"] for s in c.segments), 3) for c in clips] == [4, 4, 4]
    assert job.result["reused_segments"] is False and job.result["shared_time"] == []
    assert progress["reuse"]["reused_segments"] is False


def test_segments_too_short_name_their_source_and_clips(
    api, make_project, make_source, make_segment
):
    """2.5 s of segments for 2 clips of 2 s: 1.5 s is shared, in two ranges."""
    source = make_source(seconds=3)
    first, second = make_segment(source, 0.0, 1.0), make_segment(source, 1.0, 2.5)
    project = make_project()
    job, clips, _ = generate(
        api,
        project,
        route="generate-from-segments",
        data={"segment_ids": [first.id, second.id], "variant_count": 2, "target_duration": 2,
              "order": "sequential"},
        content_type="application/json",
    )  # fmt: skip
    ids = [c.id for c in clips]
    label = f"source_{source.id}"
    assert job.result["shared_time"] == [
        {"variants": [1, 2], "clip_ids": ids, "source": label, "start": 0.0, "end": 0.5},
        {"variants": [1, 2], "clip_ids": ids, "source": label, "start": 1.0, "end": 2.0},
    ]
    assert job.result["shared_seconds"] == 1.5
    assert job.result["note"] == (
        "the chosen segments are too short for disjoint variants: variants 1 and 2 share "
        "0-0.5 s; variants 1 and 2 share 1-2 s (1.5 s of source time shared)"
    )
