"""Per-frame features of the local analysis (see `analysis_scoring` for how they are used):
brightness, variance, motion and a perceptual hash of each small grey frame, pure numpy.
"""

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

MAX_DEVIATION = 127.5  # the largest standard deviation 8-bit values can have
MIN_FRAME_GAP = 1e-3  # seconds: guards the motion rate against duplicate timestamps


def box_blur(frame: np.ndarray) -> np.ndarray:
    """3x3 mean filter (separable), edges replicated."""
    padded = np.pad(frame, 1, mode="edge")
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return (rows[:-2] + rows[1:-1] + rows[2:]) / 9.0


def phash_int(frame: np.ndarray) -> int:
    """The 64-bit perceptual hash of an 8-bit grey frame, as an int."""
    bits = imagehash.phash(Image.fromarray(frame)).hash.flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def min_hamming(value: int, hashes: np.ndarray) -> int:
    """The smallest Hamming distance between one hash and an array of hashes (uint64)."""
    return int(np.bitwise_count(hashes ^ np.uint64(value)).min())


@dataclass
class FrameFeatures:
    times: np.ndarray
    brightness: np.ndarray
    variance: np.ndarray
    motion: np.ndarray
    hashes: np.ndarray  # uint64 pHash per frame

    def __len__(self) -> int:
        return len(self.times)


class FrameFeatureAccumulator:
    """Features of a stream of frames, one frame at a time (no frame is kept but the last)."""

    def __init__(self):
        self._times: list[float] = []
        self._brightness: list[float] = []
        self._variance: list[float] = []
        self._motion: list[float] = []
        self._hashes: list[int] = []
        self._previous: np.ndarray | None = None

    def add(self, time: float, frame: np.ndarray) -> None:
        values = frame.astype(np.float32)
        blurred = box_blur(values)
        motion = 0.0
        if self._previous is not None:
            gap = max(time - self._times[-1], MIN_FRAME_GAP)
            motion = float(np.abs(blurred - self._previous).mean()) / gap
        self._previous = blurred
        self._times.append(time)
        self._brightness.append(float(values.mean()) / 255.0)
        self._variance.append(float(values.std()) / MAX_DEVIATION)
        self._motion.append(motion / 255.0)
        self._hashes.append(phash_int(frame))

    def features(self) -> FrameFeatures:
        motion = np.array(self._motion, dtype=np.float64)
        if len(motion) > 1:
            motion[0] = motion[1]  # the first frame has no predecessor: borrow its neighbour's
        return FrameFeatures(
            times=np.array(self._times, dtype=np.float64),
            brightness=np.array(self._brightness, dtype=np.float64),
            variance=np.array(self._variance, dtype=np.float64),
            motion=motion,
            hashes=np.array(self._hashes, dtype=np.uint64),
        )


def features_from_frames(times, frames) -> FrameFeatures:
    """Features of an in-memory sequence of frames (tests, small inputs)."""
    accumulator = FrameFeatureAccumulator()
    for time, frame in zip(times, frames, strict=True):
        accumulator.add(float(time), np.asarray(frame, dtype=np.uint8))
    return accumulator.features()
