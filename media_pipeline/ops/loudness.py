"""Loudness normalisation of final renders (EBU R128): integrated loudness on the preset's target,
true peak under its ceiling.

Pass 1 measures exactly the render's final audio mix (same pieces, seeks, voice-over and duck
mix: `render.build_mixed_audio`) with ffmpeg's `loudnorm` in an audio-only run into the null
muxer: the video is not read, nothing is encoded. Pass 2 is the render itself (the one video
encode), with the audio filters chosen from the measurement:

- usually `loudnorm` in linear mode fed the measured values: one constant gain for the whole clip
  (no pumping) that lands on the target with the peaks still under the ceiling;
- when that gain would push the peaks over the ceiling (speech and other peaky audio), the gain
  followed by a true-peak limiter (`alimiter` on 4x oversampled audio). Limiting takes a little
  loudness away, so that chain is measured once more (audio only again) and its gain corrected.
  loudnorm's own fallback for this case, its dynamic mode, was measured missing a -16 LUFS target
  by 2 LU on a short voice-over; short-form clips are exactly that.

A silent or near-silent mix is left alone: amplifying silence only raises noise.
"""

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import ffmpeg

from media_pipeline.ops.errors import MediaError
from media_pipeline.ops.ffmpeg_run import ProcessTracker, run_ffmpeg
from media_pipeline.ops.presets import Preset
from media_pipeline.ops.render import AudioFilter, RenderSpec, build_mixed_audio

logger = logging.getLogger(__name__)

# loudnorm's accepted ranges (ffmpeg-filters(1)); a preset outside them cannot be rendered.
INTEGRATED_RANGE = (-70.0, -5.0)
TRUE_PEAK_RANGE = (-9.0, 0.0)
# AAC encoding and the resampling back to 48 kHz let the true peak overshoot the filters' ceiling
# a little (measured: up to 0.4 dB); aiming this much lower keeps the *encoded* file under the
# preset's ceiling.
TRUE_PEAK_MARGIN_DB = 0.5
# Loudness range target: loudnorm allows linear mode only when the measured range is within it.
TARGET_LRA = 20.0
# loudnorm reads a measured LRA of exactly 0 as "not measured" and refuses linear mode; a clip
# shorter than 3 s (one short-term window) always measures 0, so it is reported as this instead.
MIN_MEASURED_LRA = 0.01
# A mix quieter than this (integrated) is silence or noise: never amplified.
SILENCE_FLOOR_LUFS = -60.0
# The limiter works on oversampled audio, so its sample peaks are true peaks (as EBU R128 measures).
OVERSAMPLED_RATE = 192000
# Most the limited chain's gain is corrected by (limiting takes loudness away): beyond this the
# audio is too peaky to reach the target without crushing it, and stays quieter.
MAX_CORRECTION_DB = 3.0


class LoudnessTargetError(MediaError):
    """A preset's loudness target that loudnorm cannot reach (outside its ranges)."""

    permanent = True


@dataclass(frozen=True)
class LoudnessTarget:
    integrated_lufs: float
    true_peak_db: float

    @property
    def filter_true_peak(self) -> float:
        """The ceiling the filters aim at: under the preset's by the encoding margin."""
        return max(TRUE_PEAK_RANGE[0], self.true_peak_db - TRUE_PEAK_MARGIN_DB)


@dataclass(frozen=True)
class Measurement:
    """loudnorm's first-pass report on a mix."""

    integrated: float  # LUFS
    true_peak: float  # dBTP
    lra: float  # LU
    threshold: float  # LUFS, the relative gate
    target_offset: float  # LU

    @property
    def is_silent(self) -> bool:
        return not math.isfinite(self.integrated) or self.integrated < SILENCE_FLOOR_LUFS

    def gain_to(self, target: LoudnessTarget) -> float:
        return target.integrated_lufs - self.integrated

    def fits_linear(self, target: LoudnessTarget) -> bool:
        """A constant gain reaches the target with the peaks under the ceiling (and loudnorm
        will agree to apply it: its own admission test)."""
        return (
            self.true_peak + self.gain_to(target) <= target.filter_true_peak
            and self.lra <= TARGET_LRA
        )


def loudness_target(preset: Preset) -> LoudnessTarget | None:
    """The preset's target, or None when the preset turns normalisation off.
    Raises LoudnessTargetError (permanent) for a target loudnorm cannot reach."""
    if not preset.normalises_loudness:
        return None
    lufs, peak = preset.loudness_lufs, preset.true_peak_db
    if not INTEGRATED_RANGE[0] <= lufs <= INTEGRATED_RANGE[1]:
        raise LoudnessTargetError(
            f"preset '{preset.name}': loudness {lufs} LUFS is outside {INTEGRATED_RANGE[0]:g}.."
            f"{INTEGRATED_RANGE[1]:g} (0 turns normalisation off)"
        )
    if not TRUE_PEAK_RANGE[0] <= peak <= TRUE_PEAK_RANGE[1]:
        raise LoudnessTargetError(
            f"preset '{preset.name}': true peak {peak} dBTP is outside {TRUE_PEAK_RANGE[0]:g}.."
            f"{TRUE_PEAK_RANGE[1]:g}"
        )
    return LoudnessTarget(lufs, peak)


def _target_options(target: LoudnessTarget) -> dict[str, str]:
    return {
        "I": f"{target.integrated_lufs:.2f}",
        "TP": f"{target.filter_true_peak:.2f}",
        "LRA": f"{TARGET_LRA:.2f}",
    }


def build_analysis_args(spec: RenderSpec, target: LoudnessTarget) -> list[str]:
    """An analysis pass: the render's final audio (with the spec's audio filters) through
    loudnorm into the null muxer, audio only (`-vn`), cut at the render's length. loudnorm
    prints its JSON report at the end (info level)."""
    audio = build_mixed_audio(spec).filter(
        "loudnorm", **_target_options(target), print_format="json"
    )
    return ffmpeg.output(audio, "-", f="null", vn=None, t=f"{spec.duration:.3f}").get_args()


_JSON_BLOCK = re.compile(r"\{[^{}]*\}")


def parse_measurement(log: str) -> Measurement:
    """The last loudnorm JSON report in an ffmpeg log. Values may read "-inf" (silence)."""
    blocks = _JSON_BLOCK.findall(log)
    if not blocks:
        raise MediaError("the loudness analysis printed no loudnorm report")
    try:
        report = json.loads(blocks[-1])
        return Measurement(
            integrated=float(report["input_i"]),
            true_peak=float(report["input_tp"]),
            lra=float(report["input_lra"]),
            threshold=float(report["input_thresh"]),
            target_offset=float(report["target_offset"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"unreadable loudnorm report: {exc}") from None


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value)) if math.isfinite(value) else low


# loudnorm of ffmpeg 5.x stamps the frames it passes through in linear mode with the count of
# samples before them, but keeps the input's time base (microseconds in the render's mix): 60 s
# of audio came out stamped as 3 s, and the render's sound was cut to that. Stamping the frames again
# from the samples themselves is exact for the mix (one gapless stream from its first frame) and
# changes nothing where loudnorm got it right.
RESTAMP: AudioFilter = ("asetpts", (("expr", "STARTPTS+N/SR/TB"),))


def linear_filters(target: LoudnessTarget, measured: Measurement) -> tuple[AudioFilter, ...]:
    """loudnorm with the target, the measured values and linear mode: a constant gain (then
    RESTAMP). Values are clamped into loudnorm's option ranges."""
    options = {
        **_target_options(target),
        "measured_I": f"{_clamp(measured.integrated, -99, -0.01):.2f}",
        "measured_TP": f"{_clamp(measured.true_peak, -99, 99):.2f}",
        "measured_LRA": f"{_clamp(measured.lra, MIN_MEASURED_LRA, 99):.2f}",
        "measured_thresh": f"{_clamp(measured.threshold, -99, 0):.2f}",
        "offset": f"{_clamp(measured.target_offset, -99, 99):.2f}",
        "linear": "true",
    }
    return (("loudnorm", tuple(options.items())), RESTAMP)


def limited_filters(target: LoudnessTarget, gain_db: float) -> tuple[AudioFilter, ...]:
    """The gain, then a limiter holding the oversampled (true) peaks under the ceiling; its
    delay is compensated (latency) so the audio stays in sync with the video."""
    ceiling = 10 ** (target.filter_true_peak / 20)
    limiter = {"limit": f"{ceiling:.4f}", "level": "false", "attack": "5", "release": "50"}
    return (
        ("volume", (("volume", f"{gain_db:.2f}dB"),)),
        ("aresample", (("osr", str(OVERSAMPLED_RATE)),)),
        ("alimiter", (*limiter.items(), ("latency", "true"))),
    )


def _scaled(on_progress: Callable[[float], None] | None, start: float, end: float):
    if on_progress is None:
        return None
    return lambda fraction: on_progress(start + (end - start) * fraction)


def _measure(spec: RenderSpec, target: LoudnessTarget, **run) -> Measurement:
    log = run_ffmpeg(
        build_analysis_args(spec, target), duration=spec.duration, loglevel="info", **run
    )
    return parse_measurement(log)


def normalise_loudness(
    spec: RenderSpec,
    *,
    on_progress: Callable[[float], None] | None = None,
    tracker: ProcessTracker | None = None,
) -> RenderSpec:
    """`spec` with the audio filters that bring its mix to its preset's loudness target (see the
    module's docstring), after one or two audio-only analysis passes. Unchanged when the preset
    turns normalisation off or the mix is silent."""
    target = loudness_target(spec.preset)
    if target is None:
        return spec
    measured = _measure(spec, target, on_progress=_scaled(on_progress, 0, 0.5), tracker=tracker)
    if measured.is_silent:
        logger.info("mix at %s LUFS: silent, loudness left as it is", measured.integrated)
        return spec
    if measured.fits_linear(target):
        return replace(spec, audio_filters=linear_filters(target, measured))
    gain = measured.gain_to(target)
    limited = replace(spec, audio_filters=limited_filters(target, gain))
    remeasured = _measure(
        limited, target, on_progress=_scaled(on_progress, 0.5, 1), tracker=tracker
    )
    correction = _clamp(remeasured.gain_to(target), -MAX_CORRECTION_DB, MAX_CORRECTION_DB)
    logger.info("peaky mix: gain %.2f dB, limited, corrected by %.2f dB", gain, correction)
    return replace(spec, audio_filters=limited_filters(target, gain + correction))
