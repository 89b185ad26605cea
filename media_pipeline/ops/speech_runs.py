"""Speech probabilities to speech intervals, one window at a time (pure).

`SpeechTracker` applies the timing rules (Silero's threshold and hysteresis, min_silence_ms,
merge_gap_ms, min_speech_ms, padding_ms) as the probabilities arrive, and says at every moment
which speech is already certain and up to when the muting gain can no longer change
(`committed`): the muting pass (`voice_mute`) encodes while detection still runs.
`speech_intervals` is the same rules over a whole sequence.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pydantic

# Silero's own hysteresis: once speaking, a window only counts as silence below threshold - 0.15.
HYSTERESIS = 0.15


class VoiceDetectionParams(pydantic.BaseModel):
    """How probabilities become speech intervals (shared by detect_voice and mute_voice)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    threshold: float = pydantic.Field(
        0.5, ge=0.05, le=0.95, description="speech probability that starts speech"
    )
    min_speech_ms: int = pydantic.Field(
        250, ge=0, le=10_000, description="shorter speech bursts are dropped"
    )
    min_silence_ms: int = pydantic.Field(
        100, ge=0, le=10_000, description="silence this long ends a speech interval"
    )
    merge_gap_ms: int = pydantic.Field(
        300, ge=0, le=10_000, description="intervals closer than this (after padding) are merged"
    )
    padding_ms: int = pydantic.Field(
        30, ge=0, le=2_000, description="added before and after each interval"
    )


@dataclass(frozen=True)
class SpeechInterval:
    start: float  # seconds
    end: float
    confidence: float  # mean speech probability of the windows inside

    def as_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "confidence": round(self.confidence, 3),
        }


@dataclass
class _Run:
    """Speech in window indices [first, stop) with the sum of its windows' probabilities."""

    first: int
    stop: int
    prob_sum: float
    windows: int


class SpeechTracker:
    """The timing rules, fed a window's probability at a time (`add`), ended by `finish`.

    1. Speech runs by Silero's rule: a run starts at a window >= threshold and ends at the first
       window of a silence (below threshold - HYSTERESIS) lasting min_silence_ms.
    2. Runs whose padded intervals would be closer than merge_gap_ms are merged (a group).
    3. Groups shorter than min_speech_ms are dropped (speech length, padding not counted).
    4. padding_ms is added on both sides, clamped to [0, duration].
    Confidence is the mean probability of the speech windows (gaps merged over not counted).
    Window i covers [offset + i * window_seconds, offset + (i + 1) * window_seconds)."""

    def __init__(self, params: VoiceDetectionParams, *, window_seconds: float, offset: float = 0):
        self.params, self.window, self.offset = params, window_seconds, offset
        self._per_window = 1000.0 * window_seconds
        self._low = max(params.threshold - HYSTERESIS, 0.01)
        self._min_silence = max(1, round(params.min_silence_ms / self._per_window))
        self._max_gap = (params.merge_gap_ms + 2 * params.padding_ms) / self._per_window
        self._pad = params.padding_ms / 1000.0
        self._probs: list[float] = []
        self._start: int | None = None  # the open run's first window
        self._silence: int | None = None  # where the silence that may end it began
        self._group: _Run | None = None  # the last group of closed runs: it may still grow
        self._kept: list[_Run] = []  # final groups

    def add(self, probabilities: Iterable[float]) -> None:
        for p in probabilities:
            self._step(p)

    def _step(self, p: float) -> None:
        i = len(self._probs)
        self._probs.append(p)
        if p >= self.params.threshold:
            self._silence = None
            if self._start is None:
                self._start = i
                if self._group is not None and i - self._group.stop > self._max_gap:
                    self._settle()  # the new run will not join it: the group is final
        elif self._start is not None and p < self._low:
            if self._silence is None:
                self._silence = i
            if i + 1 - self._silence >= self._min_silence:
                self._close(self._silence)
        if (
            self._start is None
            and self._group is not None
            and len(self._probs) - self._group.stop > self._max_gap
        ):
            self._settle()  # no later run can start close enough to join it

    def _close(self, stop: int) -> None:
        first = self._start
        run = _Run(first, stop, float(sum(self._probs[first:stop])), stop - first)
        self._start = self._silence = None
        group = self._group
        if group is not None and run.first - group.stop <= self._max_gap:
            group.stop = run.stop
            group.prob_sum += run.prob_sum
            group.windows += run.windows
        else:
            self._settle()
            self._group = run

    def _long_enough(self, first: int, stop: int) -> bool:
        return (stop - first) * self._per_window >= self.params.min_speech_ms

    def _settle(self) -> None:
        group, self._group = self._group, None
        if group is not None and self._long_enough(group.first, group.stop):
            self._kept.append(group)

    def _padded(self, first: int, stop: int) -> tuple[float, float]:
        return (
            max(0.0, self.offset + first * self.window - self._pad),
            self.offset + stop * self.window + self._pad,
        )

    def committed(self, fade: float) -> tuple[list[tuple[float, float]], float]:
        """(spans, frontier): the padded spans (seconds, not clamped at the end) certain to be
        speech, and the time before which a gain that ramps over `fade` seconds around them
        can no longer change. A growing group that is long enough counts up to where it is
        known to reach; one that may still be dropped holds the frontier before its fade."""
        spans = [self._padded(g.first, g.stop) for g in self._kept]
        first, stop = self._growing()
        if first is None:
            return spans, self.offset + len(self._probs) * self.window - self._pad - fade
        if self._long_enough(first, stop):
            spans.append(self._padded(first, stop))
            return spans, spans[-1][1]
        return spans, self._padded(first, stop)[0] - fade

    def _growing(self) -> tuple[int | None, int]:
        """First window and the least stop of the speech that is not final yet."""
        group = self._group
        if self._start is None:
            return (group.first, group.stop) if group else (None, 0)
        stop = self._silence if self._silence is not None else len(self._probs)
        joins = group is not None and self._start - group.stop <= self._max_gap
        return (group.first if joins else self._start), stop

    @property
    def windows(self) -> int:
        return len(self._probs)

    def finish(self, *, duration: float | None = None) -> list[SpeechInterval]:
        """The intervals, once every probability is in (`duration`: the media's end)."""
        if self._start is not None:
            self._close(self._silence if self._silence is not None else len(self._probs))
        self._settle()
        total = duration if duration is not None else self.offset + len(self._probs) * self.window
        intervals = []
        for group in self._kept:
            start, end = self._padded(group.first, group.stop)
            end = min(total, end)
            if end > start:
                intervals.append(SpeechInterval(start, end, group.prob_sum / max(1, group.windows)))
        return intervals


def speech_intervals(
    probabilities: Sequence[float],
    *,
    window_seconds: float,
    params: VoiceDetectionParams,
    duration: float | None = None,
    offset: float = 0.0,
) -> list[SpeechInterval]:
    """The speech intervals of a whole sequence of per-window probabilities (`SpeechTracker`)."""
    tracker = SpeechTracker(params, window_seconds=window_seconds, offset=offset)
    tracker.add(probabilities)
    return tracker.finish(duration=duration)
