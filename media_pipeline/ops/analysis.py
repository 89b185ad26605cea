"""Local segment analysis: decode a video into small grey frames and score them.

Decoding is the cost, so Python only ever sees a few tiny frames a second: PyAV decodes with
frame threading; frames no other frame refers to (most B-frames: ~45 % of the frames of an x264
`veryfast` stream) are not decoded at all once the stream has shown it carries timestamps (a
sample then falls on the next reference frame, a few frames later at most: a 5 fps sampling
sees the same motion and scenes); every decoded frame that is not sampled is dropped without
conversion, and each sampled frame is scaled to 64x36 grey by libswscale (one cached scaler)
before numpy sees it. The
scoring itself lives in `analysis_scoring` (pure functions on arrays).
"""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from media_pipeline.ops.analysis_frames import FrameFeatureAccumulator
from media_pipeline.ops.analysis_scoring import DEFAULT_CONFIG, AnalysisConfig, analyze_features
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.probe import MediaInfo, probe_media, require_video

logger = logging.getLogger(__name__)

SAMPLE_EPSILON = 1e-3  # seconds: a frame this close before a sample time counts as on time
TRUNCATION_MARGIN = 1.0  # seconds: frames ending this much before the container says = truncated


def display_orientation(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a stored frame by the clockwise display rotation (0/90/180/270)."""
    quarter_turns = (rotation // 90) % 4
    return np.rot90(frame, k=-quarter_turns) if quarter_turns else frame


def iter_gray_frames(
    path: Path,
    *,
    sample_fps: float,
    width: int = 64,
    height: int = 36,
    rotation: int = 0,
) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds from the start, uint8 HxW grey frame in display orientation), `sample_fps`
    frames a second at most, streamed from the decoder."""
    reformatter = VideoReformatter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        origin = _start_seconds(stream)
        next_sample = 0.0
        for index, frame in enumerate(container.decode(stream)):
            if index == 0 and frame.time is not None:
                # Frames are counted only where there are no timestamps (_frame_seconds).
                stream.codec_context.skip_frame = "NONREF"
            seconds = _frame_seconds(frame, index, stream) - origin
            if seconds + SAMPLE_EPSILON < next_sample:
                continue
            next_sample = (np.floor((seconds + SAMPLE_EPSILON) * sample_fps) + 1) / sample_fps
            small = reformatter.reformat(
                frame, width=width, height=height, format="gray", interpolation="AREA"
            ).to_ndarray()
            yield max(0.0, seconds), display_orientation(small, rotation)


def _start_seconds(stream) -> float:
    if stream.start_time is not None and stream.time_base:
        return float(stream.start_time * stream.time_base)
    return 0.0


def _frame_seconds(frame, index: int, stream) -> float:
    if frame.time is not None:
        return float(frame.time)
    rate = stream.average_rate or stream.guessed_rate or 25
    return index / float(rate) + _start_seconds(stream)


def extract_features(
    path: Path,
    *,
    duration: float,
    rotation: int = 0,
    config: AnalysisConfig = DEFAULT_CONFIG,
    on_progress: Callable[[float], None] | None = None,
):
    """Frame features of the whole video; `on_progress` gets the decoded fraction (0..1).
    A decoding error after some frames keeps what was decoded (returned as the second value)."""
    accumulator = FrameFeatureAccumulator()
    frames = iter_gray_frames(
        path,
        sample_fps=config.sample_fps,
        width=config.frame_width,
        height=config.frame_height,
        rotation=rotation,
    )
    decode_error = None
    count = 0
    try:
        for seconds, frame in frames:
            accumulator.add(seconds, frame)
            count += 1
            if on_progress and duration:
                on_progress(min(1.0, seconds / duration))
    except av.FFmpegError as exc:
        if count == 0:
            raise InvalidMediaError(f"the video stream cannot be decoded ({exc})") from None
        decode_error = f"decoding stopped after {count} sampled frames: {exc}"
        logger.warning("%s: %s", path, decode_error)
    finally:
        frames.close()
    if count == 0:
        raise InvalidMediaError("the video stream has no decodable frames")
    return accumulator.features(), decode_error


def analyze_video(
    path: Path,
    *,
    target_duration: float,
    config: AnalysisConfig = DEFAULT_CONFIG,
    info: MediaInfo | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> dict:
    """Scored segments of a video for a target duration (see `analysis_scoring` for how)."""
    info = info if info is not None else probe_media(path)
    require_video(info)
    features, decode_error = extract_features(
        path,
        duration=info.duration,
        rotation=info.rotation,
        config=config,
        on_progress=on_progress,
    )
    duration = info.duration
    decoded_until = float(features.times[-1]) + 1.0 / config.sample_fps
    warning = decode_error
    if warning is None and decoded_until < duration - TRUNCATION_MARGIN:
        warning = f"the video ends at {decoded_until:.1f} s of {duration:.1f} s (truncated file?)"
    if warning:  # analyse what could be decoded, and say so
        duration = min(duration, decoded_until)
    result = analyze_features(
        features, duration=duration, target_duration=target_duration, config=config
    )
    result["decode_warning"] = warning
    return result
