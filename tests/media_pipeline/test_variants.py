"""Variant planning: disjoint variants when the source allows, reuse stated when it does not."""

import pytest

from media_pipeline.ops.variants import Segment, plan_variants


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


def test_a_source_shorter_than_the_target_gives_what_it_has():
    plan = plan_variants(_segments(2), count=1, target_duration=30)
    assert plan.variants[0].duration == pytest.approx(4) and not plan.reused_segments


@pytest.mark.parametrize("count", [0, 11])
def test_count_is_bounded(count):
    with pytest.raises(ValueError):
        plan_variants(_segments(3), count=count, target_duration=4)
