"""analyze (local provider) vs one bare low-resolution decode pass of the same file.

Source: 60 s of 1080p30 testsrc2 encoded with libx264 ultrafast, made once in a temp dir.
Baseline: ffmpeg decoding it to 64x36 grey and discarding it
(`-vf scale=64:36,format=gray -f null -`). Measured: `analyze_video` (probe, decode, features,
scoring, selection), the function the job runs. Both run ROUNDS times, alternating, in the same
run; the ratio of the best times is the figure (the machine is shared), medians are shown too.

uv run python -m bench.media analyze
"""

import statistics
import tempfile
import time
from pathlib import Path

from bench.media._setup import setup_django

SECONDS = 60
SIZE = "1920x1080"
FPS = 30
ROUNDS = 5
TARGET_RATIO = 1.3
TARGET_DURATION = 30.0


def make_source(directory: Path) -> Path:
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = directory / "source-1080p30.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    )  # fmt: skip
    return path


def bare_decode(path: Path) -> None:
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    run_ffmpeg(["-i", str(path), "-vf", "scale=64:36,format=gray", "-f", "null", "-"])


def analyze(path: Path) -> dict:
    from media_pipeline.ops.analysis import analyze_video

    return analyze_video(path, target_duration=TARGET_DURATION)


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    setup_django()
    with tempfile.TemporaryDirectory(prefix="ef-bench-analyze-") as tmp:
        print(f"making a {SECONDS} s {SIZE}@{FPS} source...", flush=True)
        source = make_source(Path(tmp))
        analyze(source)  # warm-up: imports, scipy/imagehash, page cache
        baseline_times, analyze_times = [], []
        result = None
        for _ in range(ROUNDS):
            baseline_times.append(timed(bare_decode, source)[0])
            elapsed, result = timed(analyze, source)
            analyze_times.append(elapsed)
    best_base, best_analyze = min(baseline_times), min(analyze_times)
    ratio = best_analyze / best_base
    median_ratio = statistics.median(analyze_times) / statistics.median(baseline_times)
    print(
        f"bare decode to 64x36 grey: best {best_base:.2f} s ({SECONDS / best_base:.1f}x real time)"
    )
    print(
        f"analyze (local):           best {best_analyze:.2f} s ({SECONDS / best_analyze:.1f}x real time)"
    )
    print(
        f"ratio analyze / bare decode: {ratio:.2f} (best of {ROUNDS}); {median_ratio:.2f} (medians); "
        f"target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
    )
    print(f"rounds baseline: {', '.join(f'{t:.2f}' for t in baseline_times)}")
    print(f"rounds analyze:  {', '.join(f'{t:.2f}' for t in analyze_times)}")
    print(f"result: {len(result['segments'])} segments, {result['selected_duration']} s selected "
          f"of a {TARGET_DURATION:g} s target, windows {result['windows']}")  # fmt: skip


if __name__ == "__main__":
    main()
