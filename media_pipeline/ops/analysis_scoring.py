"""Scoring and selecting segments from small grey frames: pure functions on numpy arrays.

Per sampled frame (8-bit grey, e.g. 64x36, sampled `sample_fps` times a second):

- brightness = mean / 255
- variance   = standard deviation / 127.5 (127.5 is the largest deviation 8-bit values can have)
- motion     = mean |blur(frame) - blur(previous frame)| / 255, divided by the time between the
  two frames in seconds: a rate per second, so it does not depend on the sampling rate. The 3x3
  box blur keeps encoder noise and single-pixel flicker from counting as motion.
- phash      = 64-bit perceptual hash (`imagehash.phash`)

Per window (clamp(target/8, 1.5, 3) s long, 30 % overlap, all configurable):

1. Leading and trailing clearly inactive frames (dark, or with less than half the static
   threshold's motion) are trimmed, so a window straddling a cut from a still shot starts where
   the movement starts.
2. The window's brightness and variance are the means over its remaining frames, its motion the
   median (a cut is one huge frame difference: it must not make a window look lively). It is
   dropped as `dark` (brightness < 0.08), `static` (motion < 0.008) or `short` (less than 0.5 s
   left after trimming).
3. Scores are normalised per video: each metric is divided by its largest value among the usable
   windows, so motion_score, variance_score and brightness_score lie in 0..1, and
   score = 0.6·motion_score + 0.3·variance_score + 0.1·brightness_score (also 0..1). Scores rank
   windows within one video; they are not comparable across videos.
4. Near-duplicates: taken best score first, a window whose representative frame (the one nearest
   its middle) has a pHash within `duplicate_distance` bits of any sampled frame of an already
   kept window is dropped (any frame, not only the kept window's middle one, so the same footage
   is found whatever its offset against the window grid). Windows that overlap or touch one
   another are never compared: neighbouring windows of one continuous shot naturally look alike;
   a duplicate is the same picture again elsewhere.

Selection takes usable windows best first, clipping each to the part not yet covered, until the
covered time reaches the target; the segments come back sorted by time with a rank (1 = best).

The per-frame features are computed in `analysis_frames`, the selection is `analysis_selection`
(shared with the Gemini analysis); this module scores the windows.
"""

from dataclasses import dataclass

import numpy as np

from media_pipeline.ops.analysis_frames import FrameFeatures, min_hamming
from media_pipeline.ops.analysis_selection import (
    MIN_FILL_LENGTH,
    Window,
    best_first,
    selection_result,
)

TRIM_MOTION_RATIO = 0.5  # edge frames below this share of the static threshold are trimmed


@dataclass(frozen=True)
class AnalysisConfig:
    sample_fps: float = 5.0
    frame_width: int = 64
    frame_height: int = 36
    window_divisor: float = 8.0
    window_min: float = 1.5
    window_max: float = 3.0
    window_overlap: float = 0.3
    dark_threshold: float = 0.08
    static_threshold: float = 0.008
    duplicate_distance: int = 6
    motion_weight: float = 0.6
    variance_weight: float = 0.3
    brightness_weight: float = 0.1
    min_segment_ratio: float = 0.5  # of the window length, after trimming or clipping

    def weights(self) -> dict[str, float]:
        return {
            "motion": self.motion_weight,
            "variance": self.variance_weight,
            "brightness": self.brightness_weight,
        }


DEFAULT_CONFIG = AnalysisConfig()


# --- windows ----------------------------------------------------------------------------------
def window_length(target_duration: float, config: AnalysisConfig = DEFAULT_CONFIG) -> float:
    return min(config.window_max, max(config.window_min, target_duration / config.window_divisor))


def window_grid(duration: float, length: float, overlap: float) -> list[tuple[float, float]]:
    """Windows of `length` seconds overlapping by `overlap` (0..1), the last one ending at the
    end of the source; a source shorter than one window is one window."""
    if duration <= 0:
        return []
    if duration <= length:
        return [(0.0, duration)]
    step = length * (1.0 - overlap)
    count = int(np.floor((duration - length) / step + 1e-9)) + 1
    grid = [(round(i * step, 6), round(i * step + length, 6)) for i in range(count)]
    if grid[-1][1] < duration - 1e-6:
        grid.append((round(duration - length, 6), round(duration, 6)))
    return grid


def _measure_window(start, end, features, active, period, config, min_length) -> Window:
    times = features.times
    first, stop = np.searchsorted(times, [start, end], side="left")
    if stop <= first:
        return Window(start, end, dropped="empty")
    span = np.flatnonzero(active[first:stop])
    if len(span) == 0:
        dark = features.brightness[first:stop].mean() < config.dark_threshold
        return Window(start, end, dropped="dark" if dark else "static")
    lo, hi = first + span[0], first + span[-1] + 1
    trimmed_start = max(start, times[lo]) if lo > first else start
    trimmed_end = min(end, times[hi - 1] + period) if hi < stop else end
    window = Window(
        start=round(float(trimmed_start), 3),
        end=round(float(trimmed_end), 3),
        motion=float(np.median(features.motion[lo:hi])),
        variance=float(features.variance[lo:hi].mean()),
        brightness=float(features.brightness[lo:hi].mean()),
        phash=int(features.hashes[(lo + hi - 1) // 2]),
        frame_hashes=features.hashes[lo:hi],
    )
    if window.brightness < config.dark_threshold:
        window.dropped = "dark"
    elif window.motion < config.static_threshold:
        window.dropped = "static"
    elif window.duration < min_length:
        window.dropped = "short"
    return window


def _sample_period(features: FrameFeatures, config: AnalysisConfig) -> float:
    if len(features) > 1:
        return float(np.median(np.diff(features.times)))
    return 1.0 / config.sample_fps


def measure_windows(
    features: FrameFeatures, *, duration: float, length: float, config: AnalysisConfig
) -> list[Window]:
    """Every window of the grid with its metrics (not yet normalised) or its drop reason."""
    active = (features.brightness >= config.dark_threshold) & (
        features.motion >= config.static_threshold * TRIM_MOTION_RATIO
    )
    period = _sample_period(features, config)
    min_length = min(MIN_FILL_LENGTH, min(length, duration) * config.min_segment_ratio)
    return [
        _measure_window(start, end, features, active, period, config, min_length)
        for start, end in window_grid(duration, length, config.window_overlap)
    ]


def normalise_scores(windows: list[Window], config: AnalysisConfig) -> None:
    """Fill the 0..1 scores of the usable windows (each metric over its largest value)."""
    usable = [w for w in windows if w.dropped is None]
    if not usable:
        return
    top = {
        name: max(getattr(w, name) for w in usable) or 1.0
        for name in ("motion", "variance", "brightness")
    }
    for w in usable:
        w.motion_score = w.motion / top["motion"]
        w.variance_score = w.variance / top["variance"]
        w.brightness_score = w.brightness / top["brightness"]
        w.score = (
            config.motion_weight * w.motion_score
            + config.variance_weight * w.variance_score
            + config.brightness_weight * w.brightness_score
        )


def drop_duplicates(windows: list[Window], max_distance: int) -> None:
    """Mark as `duplicate` each window that looks like a better one elsewhere (see the module)."""
    kept: list[Window] = []
    for window in best_first(windows):
        if window.phash is not None and any(
            (other.end < window.start or window.end < other.start)
            and min_hamming(window.phash, other.frame_hashes) <= max_distance
            for other in kept
            if other.frame_hashes is not None
        ):
            window.dropped = "duplicate"
            continue
        kept.append(window)


def analyze_features(
    features: FrameFeatures,
    *,
    duration: float,
    target_duration: float,
    config: AnalysisConfig = DEFAULT_CONFIG,
) -> dict:
    """Scored segments covering `target_duration` (when the source allows) from frame features."""
    length = min(window_length(target_duration, config), duration)
    windows = measure_windows(features, duration=duration, length=length, config=config)
    normalise_scores(windows, config)
    drop_duplicates(windows, config.duplicate_distance)
    dropped = {
        reason: sum(1 for w in windows if w.dropped == reason)
        for reason in ("dark", "static", "short", "empty", "duplicate")
    }
    return selection_result(
        windows,
        source_duration=duration,
        target_duration=target_duration,
        min_length=length * config.min_segment_ratio,
        dropped=dropped,
        window_length=round(length, 3),
        sample_fps=config.sample_fps,
        frames_analysed=len(features),
        windows={
            "total": len(windows),
            "usable": sum(1 for w in windows if w.dropped is None),
            **dropped,
        },
        weights=config.weights(),
    )
