"""Choosing segments for clip variants: each variant is a chronological run of good segments
adding up to the target duration, and variants do not share a segment unless the source is
too short to give every variant its own (then the result says so)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    score: float = 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Variant:
    index: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass
class VariantPlan:
    variants: list[Variant]
    reused_segments: bool  # True when the source was too short for disjoint variants


def plan_variants(segments: list[Segment], *, count: int, target_duration: float) -> VariantPlan:
    """Deal the best segments out to `count` variants in turn (round-robin by score, so every
    variant gets a fair share of the best material) until each reaches the target duration.
    When unused segments run out, the least-used ones are reused and the plan says so."""
    if not 1 <= count <= 10:
        raise ValueError("count must be between 1 and 10")
    if not segments:
        raise ValueError("no usable segments in the source")
    ranked = sorted(segments, key=lambda s: (-s.score, s.start))
    uses = dict.fromkeys(ranked, 0)
    variants = [Variant(index=i) for i in range(count)]
    reused = False
    while True:
        hungry = [v for v in variants if v.duration < target_duration - 0.05]
        if not hungry:
            break
        for variant in hungry:
            candidate = _next_segment(ranked, uses, variant)
            if candidate is None:
                continue
            reused = reused or uses[candidate] > 0
            uses[candidate] += 1
            variant.segments.append(candidate)
        if all(_next_segment(ranked, uses, v) is None for v in hungry):
            break
    for variant in variants:
        variant.segments = _fit(sorted(variant.segments, key=lambda s: s.start), target_duration)
    return VariantPlan(variants=variants, reused_segments=reused)


def _next_segment(ranked, uses, variant) -> Segment | None:
    """The best segment this variant does not already contain, preferring unused ones."""
    mine = set(variant.segments)
    options = [s for s in ranked if s not in mine]
    if not options:
        return None
    least = min(uses[s] for s in options)
    return next(s for s in options if uses[s] == least)


def _fit(segments: list[Segment], target: float) -> list[Segment]:
    """Trim the chronological run to the target duration (the last segment is shortened)."""
    fitted, total = [], 0.0
    for seg in segments:
        if total >= target - 0.05:
            break
        take = min(seg.duration, target - total)
        fitted.append(Segment(seg.start, round(seg.start + take, 3), seg.score))
        total += take
    return fitted
