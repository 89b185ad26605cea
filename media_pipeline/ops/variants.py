"""Choosing source time for clip variants, and saying where variants share it.

Variants never share source time while unused time is left: `allocate` deals the material out
round-robin, each variant taking the first stretch of its preference order that no variant uses
yet, and only as much of it as it still needs (the rest stays free for the next variant, so
material adding up to `count x target` gives disjoint variants). Only when every free stretch is
gone does a hungry variant reuse time another variant has (never time it already has itself);
`reuse_report` then names the shared time ranges. `plan_variants` (the `process` job and project
generation from an analysis) and the library's span planner both go through `allocate`.
"""

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

MIN_PIECE = 0.05  # seconds: shorter stretches are never taken (a flash)
# A leftover shorter than this (the tail of a stretch a variant did not need) is only taken
# once no longer free stretch is left, so variants do not start with a sliver.
MIN_LEFTOVER = 1.0
DONE = 0.05  # a variant within this of its target is complete
SOURCE = "source"  # the input label of single-source plans


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

    @property
    def reuse(self) -> dict:
        return reuse_report([[(SOURCE, s.start, s.end) for s in v.segments] for v in self.variants])

    @property
    def reused_segments(self) -> bool:
        """True when the material was too short for disjoint variants."""
        return self.reuse["reused_segments"]


def plan_variants(segments: list[Segment], *, count: int, target_duration: float) -> VariantPlan:
    """Deal the best segments out to `count` variants in turn (round-robin by score, so every
    variant gets a fair share of the best material), each variant's run chronological. When
    free material runs out, the least-used segments are reused (`VariantPlan.reuse` says where)."""
    if not 1 <= count <= 10:
        raise ValueError("count must be between 1 and 10")
    if not segments:
        raise ValueError("no usable segments in the source")
    ranked = sorted(segments, key=lambda s: (-s.score, s.start))
    order = list(range(len(ranked)))
    taken = allocate(ranked, [order] * count, target=target_duration, balance_reuse=True)
    return VariantPlan(
        [Variant(i, sorted(pieces, key=lambda s: s.start)) for i, pieces in enumerate(taken)]
    )


def allocate(
    items: Sequence, pools: list[list[int]], *, target: float, balance_reuse: bool = False
) -> list[list]:
    """Source time for `len(pools)` variants of `target` seconds each. `items` are dataclasses
    with `start`, `end` (and a `source` label, else all are of one source); `pools[v]` lists
    the item indices in variant v's order of preference. Returns each variant's pieces (the
    items with `start`/`end` narrowed), in its preference order.

    Round-robin, one piece per hungry variant per round: first free time only (long stretches,
    then leftovers), then reuse of time other variants have (`balance_reuse`: the items the
    fewest variants use first; else the preference order). A variant ends short when even
    reuse leaves it nothing (the material is shorter than the target)."""
    source_of: Callable[[int], str] = lambda i: getattr(items[i], "source", SOURCE)  # noqa: E731
    taken: list[list[tuple[int, int, float, float]]] = [[] for _ in pools]
    used: dict[str, list[tuple[float, float]]] = defaultdict(list)  # by any variant
    holders: list[set[int]] = [set() for _ in items]

    def need(v: int) -> float:
        return target - sum(end - start for _, _, start, end in taken[v])

    def free(v: int, floor: float):
        for pos, i in enumerate(pools[v]):
            item = items[i]
            least = max(min(floor, item.end - item.start), MIN_PIECE)
            for start, end in free_parts(item.start, item.end, used[source_of(i)]):
                if end - start >= least - 1e-9:
                    return pos, i, start, end
        return None

    def reuse(v: int):
        options = []
        for pos, i in enumerate(pools[v]):
            mine = [(s, e) for _, j, s, e in taken[v] if source_of(j) == source_of(i)]
            part = next(
                (
                    p
                    for p in free_parts(items[i].start, items[i].end, mine)
                    if p[1] - p[0] >= MIN_PIECE
                ),
                None,
            )
            if part is not None:
                options.append(((len(holders[i]) if balance_reuse else 0, pos), (pos, i, *part)))
        return min(options)[1] if options else None

    for pick in (lambda v: free(v, MIN_LEFTOVER), lambda v: free(v, MIN_PIECE), reuse):
        progressed = True
        while progressed:
            progressed = False
            for v in range(len(pools)):
                if need(v) < DONE or (choice := pick(v)) is None:
                    continue
                pos, i, start, end = choice
                end = round(min(end, start + need(v)), 3)
                taken[v].append((pos, i, start, end))
                used[source_of(i)].append((start, end))
                holders[i].add(v)
                progressed = True
    return [
        [replace(items[i], start=start, end=end) for _, i, start, end in sorted(pieces)]
        for pieces in taken
    ]


def free_parts(
    start: float, end: float, taken: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The parts of [start, end] that overlap none of `taken`, earliest first."""
    parts = [(start, end)]
    for t_start, t_end in taken:
        kept = []
        for p_start, p_end in parts:
            if t_end <= p_start or t_start >= p_end:
                kept.append((p_start, p_end))
                continue
            if t_start > p_start:
                kept.append((p_start, t_start))
            if t_end < p_end:
                kept.append((t_end, p_end))
        parts = kept
    return parts


@dataclass(frozen=True)
class SharedTime:
    """A range of a source that several variants (1-based numbers) all show."""

    source: str
    start: float
    end: float
    variants: tuple[int, ...]

    def as_dict(self) -> dict:
        return {
            "variants": list(self.variants),
            "source": self.source,
            "start": self.start,
            "end": self.end,
        }


def shared_time(variants: Sequence[Sequence[tuple[str, float, float]]]) -> list[SharedTime]:
    """Where variants share source time: each variant is its (source, start, end) pieces; the
    answer lists maximal ranges with the same set of variants, by source and time."""
    by_source: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for number, pieces in enumerate(variants, start=1):
        for source, start, end in pieces:
            by_source[source].append((start, end, number))
    shared: list[SharedTime] = []
    for source, spans in sorted(by_source.items()):
        cuts = sorted({t for start, end, _ in spans for t in (start, end)})
        for a, b in itertools.pairwise(cuts):
            who = tuple(sorted({n for start, end, n in spans if start < b and end > a}))
            if len(who) < 2 or b - a < 0.001:
                continue
            last = shared[-1] if shared else None
            if last and (last.source, last.end, last.variants) == (source, a, who):
                shared[-1] = replace(last, end=b)
            else:
                shared.append(SharedTime(source, a, b, who))
    return [replace(s, start=round(s.start, 3), end=round(s.end, 3)) for s in shared]


def reuse_report(
    variants: Sequence[Sequence[tuple[str, float, float]]], *, material: str = "the source is"
) -> dict:
    """What a job says of its variants' reuse: `reused_segments` (whether any source time is in
    more than one variant), `shared_time` (where: SharedTime dicts), `shared_seconds` (how much
    source time is shared) and a `note` in words (empty without reuse)."""
    shared = shared_time(variants)
    seconds = round(sum(s.end - s.start for s in shared), 3)
    note = ""
    if shared:
        several = len({s.source for s in shared}) > 1
        ranges = [
            f"variants {_and(s.variants)} share {f'{s.source} ' if several else ''}"
            f"{s.start:g}-{s.end:g} s"
            for s in shared[:5]
        ]
        more = f" and {len(shared) - 5} more ranges" if len(shared) > 5 else ""
        note = (
            f"{material} too short for disjoint variants: {'; '.join(ranges)}{more} "
            f"({seconds:g} s of source time shared)"
        )
    return {
        "reused_segments": bool(shared),
        "shared_time": [s.as_dict() for s in shared],
        "shared_seconds": seconds,
        "note": note,
    }


def _and(numbers: Sequence[int]) -> str:
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
