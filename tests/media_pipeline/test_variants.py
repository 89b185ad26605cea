"""Variant planning: disjoint variants when the source allows, reuse stated when it does not."""

import random

import pytest

from media_pipeline.ops.variants import Segment, plan_variants, reuse_report, shared_time


def _segments(n, length=2.0, gap=1.0):
    return [
        Segment(i * (length + gap), i * (length + gap) + length, score=(i * 7919) % 13)
        for i in range(n)
    ]


def test_variants_are_disjoint_chronological_and_reach_the_target():
    plan = plan_variants(_segments(12), count=3, target_duration=7)
    assert not plan.reused_segments
    seen = set()
    for variant in plan.variants:
        assert variant.duration == pytest.approx(7)
        starts = [s.start for s in variant.segments]
        assert starts == sorted(starts)
        assert not seen & set(starts)
        seen |= set(starts)


def test_the_best_segments_are_shared_out_between_variants():
    plan = plan_variants(_segments(12), count=3, target_duration=4)
    best_three = sorted(_segments(12), key=lambda s: -s.score)[:3]
    firsts = {s.start for v in plan.variants for s in v.segments}
    assert {s.start for s in best_three} <= firsts


def test_a_short_source_reuses_segments_and_says_so():
    plan = plan_variants(_segments(3), count=3, target_duration=4)
    assert plan.reused_segments
    assert all(v.duration == pytest.approx(4) for v in plan.variants)
    reuse = plan.reuse
    # 6 s of material for 12 s of clips: the ranges account for the 6 s shown again
    again = sum((len(e["variants"]) - 1) * (e["end"] - e["start"]) for e in reuse["shared_time"])
    assert again == pytest.approx(6) and 3 <= reuse["shared_seconds"] <= 6
    for entry in reuse["shared_time"]:
        for number in entry["variants"]:  # each named variant shows the whole range
            pieces = plan.variants[number - 1].segments
            inside = sum(
                max(0, min(p.end, entry["end"]) - max(p.start, entry["start"])) for p in pieces
            )
            assert inside == pytest.approx(entry["end"] - entry["start"])
    assert reuse["note"].startswith("the source is too short for disjoint variants: variants ")


def test_uneven_segments_adding_up_to_the_need_are_split_not_shared():
    """12 + 4 + 4 s for two 10 s variants: dealing whole segments gave one variant the 12 s
    (2 s cut off) and the other had to reuse it; the leftover now goes to the other variant."""
    segments = [Segment(0, 12, 0.9), Segment(20, 24, 0.5), Segment(30, 34, 0.4)]
    plan = plan_variants(segments, count=2, target_duration=10)
    assert [v.duration for v in plan.variants] == [10, 10]
    assert not plan.reused_segments and plan.reuse["shared_time"] == []
    assert [(s.start, s.end) for v in plan.variants for s in v.segments] == [
        (0, 10), (10, 12), (20, 24), (30, 34),
    ]  # fmt: skip


def test_material_with_little_to_spare_is_never_shared():
    """200 random sets of segments holding 3 % more than the variants need: every variant
    reaches the target and none shares source time (whole segments dealt round-robin shared
    in 151 of them)."""
    rng = random.Random(1)
    for _ in range(200):
        lengths = [rng.uniform(0.5, 6) for _ in range(rng.randint(3, 12))]
        starts = [sum(lengths[:n]) + 0.5 * n for n in range(len(lengths))]
        segments = [
            Segment(round(a, 3), round(a + n, 3), rng.random())
            for a, n in zip(starts, lengths, strict=True)
        ]
        count = rng.randint(1, 5)
        target = round(sum(s.duration for s in segments) / count * 0.97, 2)
        plan = plan_variants(segments, count=count, target_duration=target)
        assert not plan.reused_segments, (segments, count, target)
        assert all(v.duration == pytest.approx(target, abs=0.06) for v in plan.variants)


def test_shared_time_merges_ranges_and_keeps_sources_apart():
    variants = [
        [("a", 0, 4), ("b", 0, 2)],
        [("a", 2, 6)],
        [("a", 3, 5), ("b", 1, 3)],
    ]
    assert [
        (s.source, s.start, s.end, s.variants) for s in shared_time(variants)
    ] == [
        ("a", 2, 3, (1, 2)),
        ("a", 3, 4, (1, 2, 3)),
        ("a", 4, 5, (2, 3)),
        ("b", 1, 2, (1, 3)),
    ]  # fmt: skip
    report = reuse_report(variants, material="the segments are")
    assert report["shared_seconds"] == 4 and report["reused_segments"]
    assert report["note"] == (
        "the segments are too short for disjoint variants: variants 1 and 2 share a 2-3 s; "
        "variants 1, 2 and 3 share a 3-4 s; variants 2 and 3 share a 4-5 s; "
        "variants 1 and 3 share b 1-2 s (4 s of source time shared)"
    )
    # touching pieces share nothing; a variant looping over its own time is no reuse
    assert reuse_report([[("a", 0, 2), ("a", 0, 2)], [("a", 2, 4)]])["shared_time"] == []


def test_a_source_shorter_than_the_target_gives_what_it_has():
    plan = plan_variants(_segments(2), count=1, target_duration=30)
    assert plan.variants[0].duration == pytest.approx(4) and not plan.reused_segments


@pytest.mark.parametrize("count", [0, 11])
def test_count_is_bounded(count):
    with pytest.raises(ValueError):
        plan_variants(_segments(3), count=count, target_duration=4)
