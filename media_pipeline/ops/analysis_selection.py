"""Selecting segments for a target duration from scored candidate windows, and the result both
analyses answer (the local one in `analysis_scoring`, Gemini's in `gemini`): usable windows best
first, each clipped to what is not yet covered, until the target is covered; sorted by time with
a rank (1 = best).

numpy only names a field's type here (a string, never imported at run time): Gemini's analysis
uses this module and needs no numpy, nor does the worker that loads every job type.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MIN_FILL_LENGTH = 0.5  # seconds: the shortest gap-filling piece (see select_segments)


@dataclass
class Window:
    """A candidate segment: a window of the local analysis (with its metrics and hashes), or a
    segment a model proposed (its score and reason in `extra`)."""

    start: float
    end: float
    score: float = 0.0
    motion: float | None = None
    variance: float | None = None
    brightness: float | None = None
    motion_score: float | None = None
    variance_score: float | None = None
    brightness_score: float | None = None
    phash: int | None = None  # of the representative (middle) frame
    frame_hashes: np.ndarray | None = None  # of every frame in the window
    dropped: str | None = None  # dark | static | short | empty | duplicate
    extra: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start


def best_first(windows: list[Window]) -> list[Window]:
    """The usable windows, best score first (earliest first among equals)."""
    return sorted((w for w in windows if w.dropped is None), key=lambda w: (-w.score, w.start))


def largest_free_part(
    start: float, end: float, taken: list[tuple[float, float]]
) -> tuple[float, float]:
    """The longest sub-interval of [start, end] that overlaps none of `taken`."""
    pieces = [(start, end)]
    for t_start, t_end in taken:
        next_pieces = []
        for p_start, p_end in pieces:
            if t_end <= p_start or t_start >= p_end:
                next_pieces.append((p_start, p_end))
                continue
            if t_start > p_start:
                next_pieces.append((p_start, t_start))
            if t_end < p_end:
                next_pieces.append((t_end, p_end))
        pieces = next_pieces
    return max(pieces, key=lambda p: p[1] - p[0], default=(start, start))


def select_segments(
    windows: list[Window], *, target_duration: float, min_length: float
) -> list[Window]:
    """Usable windows best first, each clipped to what is not yet covered, until the target is
    covered; returned sorted by time. Pieces shorter than `min_length` are only taken in a
    second pass, when the first one fell short of the target (they fill the gaps clipping
    leaves between overlapping windows)."""
    chosen: list[Window] = []
    for floor in (min_length, min(min_length, MIN_FILL_LENGTH)):
        for window in best_first(windows):
            if sum(w.duration for w in chosen) >= target_duration - 1e-6:
                break
            taken = [(w.start, w.end) for w in chosen]
            start, end = largest_free_part(window.start, window.end, taken)
            if end - start >= floor - 1e-6 and end > start:
                chosen.append(replace(window, start=start, end=end))
    return sorted(chosen, key=lambda w: w.start)


def segment_dicts(segments: list[Window]) -> tuple[list[dict], list[int]]:
    """JSON segments sorted by time, each with its rank (1 = best), and the ranking: segment
    indices best first."""
    ranking = sorted(range(len(segments)), key=lambda i: (-segments[i].score, segments[i].start))
    rank_of = {index: rank for rank, index in enumerate(ranking, start=1)}
    result = []
    for index, w in enumerate(segments):
        item = {
            "start": round(w.start, 3),
            "end": round(w.end, 3),
            "duration": round(w.end - w.start, 3),
            "motion_score": _rounded(w.motion_score),
            "variance_score": _rounded(w.variance_score),
            "brightness_score": _rounded(w.brightness_score),
            "score": round(w.score, 4),
            "rank": rank_of[index],
        }
        item.update(w.extra)
        result.append(item)
    return result, ranking


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def coverage_summary(*, source_duration, target_duration, selected_duration, dropped=None) -> dict:
    """Whether the target is covered, and if not, a sentence saying why."""
    covers = selected_duration >= target_duration - 1e-3
    summary = {"covers_target": covers, "shortfall": None}
    if covers:
        return summary
    if source_duration < target_duration:
        summary["shortfall"] = (
            f"the source is {source_duration:.1f} s long, shorter than the "
            f"{target_duration:g} s target: {selected_duration:.1f} s of usable footage returned"
        )
    else:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted((dropped or {}).items()) if n)
        summary["shortfall"] = (
            f"only {selected_duration:.1f} s of usable footage for the {target_duration:g} s "
            "target" + (f" (windows dropped: {reasons})" if reasons else "")
        )
    return summary


def selection_result(
    candidates: list[Window],
    *,
    source_duration: float,
    target_duration: float,
    min_length: float,
    dropped: dict | None = None,
    **details,
) -> dict:
    """The analysis result every provider answers: the candidates selected for the target
    (`select_segments`) as ranked segments, with whether they cover it; `details`, the
    provider's own figures, come between the coverage and the segments."""
    chosen = select_segments(candidates, target_duration=target_duration, min_length=min_length)
    items, ranking = segment_dicts(chosen)
    selected = round(sum(item["duration"] for item in items), 3)
    return {
        "source_duration": round(source_duration, 3),
        "target_duration": target_duration,
        "selected_duration": selected,
        **coverage_summary(
            source_duration=source_duration,
            target_duration=target_duration,
            selected_duration=selected,
            dropped=dropped,
        ),
        **details,
        "segments": items,
        "ranking": ranking,
    }
