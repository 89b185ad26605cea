"""x264's frame threads against its sliced threads at 1080x1920: peak memory, size, quality, time.

    uv run python bench/encoder_threads.py [--seconds 20] [--threads 8]

Bare ffmpeg (the product's binary), one encode each, in one run: 2 frame threads (the default),
`--threads` sliced threads (what `media_pipeline.ops.encoder` gives x264 above 2 threads) and
`--threads` frame threads (what it gave before). The source is busy on purpose (testsrc2 over a
Game of Life pattern, 1920x1080, scaled and cropped to 1080x1920 as a vertical render is); each
encode is x264 `medium` CRF 20, lookahead 5. Peak RSS is sampled from /proc; PSNR and SSIM are
measured against the same frames uncompressed.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import setup_django  # noqa: E402

setup_django()

from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg  # noqa: E402

VERTICAL = "scale=-2:1920,crop=1080:1920"


def make_source(ffmpeg: str, seconds: int, folder: Path) -> tuple[Path, Path]:
    source, frames = folder / "source.mp4", folder / "frames.y4m"
    life = (f"life=size=1920x1080:rate=30:mold=10:ratio=0.5:death_color=#302010:"
            f"life_color=#c0ffc0,trim=duration={seconds}")  # fmt: skip
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i",
         f"testsrc2=size=1920x1080:rate=30:duration={seconds}", "-f", "lavfi", "-i", life,
         "-filter_complex", "[0][1]blend=all_mode=addition", "-c:v", "libx264",
         "-preset", "veryfast", "-crf", "16", str(source)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(source), "-vf", VERTICAL, "-pix_fmt", "yuv420p",
         str(frames)],
        check=True,
    )  # fmt: skip
    return source, frames


def encode(ffmpeg: str, source: Path, out: Path, threads: int, sliced: bool) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one encode."""
    params = (
        f"threads={threads}{':sliced-threads=1' if sliced else ''}:rc-lookahead=5:sync-lookahead=0"
    )
    argv = [ffmpeg, "-v", "error", "-y", "-threads", str(min(threads, 2)), "-i", str(source),
            "-filter_threads", str(threads), "-vf", VERTICAL, "-c:v", "libx264",
            "-preset", "medium", "-crf", "20", "-x264-params", params, str(out)]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(argv)
    peak_kb = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak_kb = max(peak_kb, int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))
        except (OSError, AttributeError):
            pass
        time.sleep(0.05)
    if process.returncode:
        raise SystemExit(f"ffmpeg failed ({process.returncode}): {' '.join(argv)}")
    return peak_kb / 1024, time.perf_counter() - started


def quality(ffmpeg: str, out: Path, frames: Path) -> tuple[str, str]:
    log = subprocess.run(
        [ffmpeg, "-i", str(out), "-i", str(frames), "-lavfi", "[0][1]psnr;[0][1]ssim",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    psnr = re.search(r"PSNR.*average:([\d.]+)", log).group(1)
    ssim = re.search(r"SSIM.*All:([\d.]+)", log).group(1)
    return psnr, ssim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    ffmpeg = choose_ffmpeg().info.path
    with tempfile.TemporaryDirectory(prefix="ef-bench-threads-") as folder:
        source, frames = make_source(ffmpeg, args.seconds, Path(folder))
        print(f"{args.seconds} s source, 1080x1920; load average {os.getloadavg()[0]:.1f}")
        for label, threads, sliced in (
            ("2 frame threads (default)", 2, False),
            (f"{args.threads} sliced threads", args.threads, True),
            (f"{args.threads} frame threads", args.threads, False),
        ):
            out = Path(folder) / f"{threads}-{int(sliced)}.mp4"
            peak, wall = encode(ffmpeg, source, out, threads, sliced)
            psnr, ssim = quality(ffmpeg, out, frames)
            print(f"{label}: peak RSS {peak:.0f} MB, size {out.stat().st_size / 1e6:.2f} MB, "
                  f"PSNR {psnr} dB, SSIM {ssim}, wall {wall:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
