"""Output quality of final renders in every preset, as shipped (x264 "medium"): the figures the
tests assert, printed.

    uv run python bench/quality.py [--presets tiktok,square] [--seconds 2.2]

For each preset and each source level (a quiet tone at about -35 LUFS, a loud one peaking near
0 dBFS, and an offline-TTS voice-over replacing the audio), one render of two cuts of a moving
test pattern through `render_clip_file` (the job types' code path), then measured on the file:
integrated loudness and true peak (ffmpeg's ebur128), width x height, fps, codecs, and the number
of black (blackdetect) and frozen (freezedetect) stretches. Targets: the preset's loudness +/-1 LU,
true peak <= the preset's ceiling, exactly the preset's format, no black or frozen frame.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import setup_django  # noqa: E402

CUTS = [{"start": 0.3, "end": 1.3}, {"start": 2.0, "end": 3.2}]
LEVELS = {"quiet": 0.0178, "loud": 0.95}  # amplitude of a stereo 440 Hz tone
SPEECH = "Loud enough for the feed, never clipping: every preset lands on its own target."


class BenchContext:
    """What render_clip_file asks of a job context, without a job."""

    def __init__(self, temp_dir: Path):
        self.temp_dir = temp_dir

    def progress(self, percent, stage=None, label=None):
        pass

    def stage(self, start, end, stage, label):
        return lambda fraction: None

    def check_cancelled(self):
        pass

    def add_cost(self, *args, **kwargs):
        pass

    def track_process(self, process):
        pass

    def untrack_process(self, process):
        pass


def make_source(directory: Path, amplitude: float) -> Path:
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    out = directory / f"source-{amplitude}.mp4"
    tone = f"aevalsrc={amplitude}*sin(2*PI*440*t):c=stereo:s=48000:d=4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4", "-f", "lavfi",
                "-i", tone, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "192k", str(out)])  # fmt: skip
    return out


def render_and_measure(directory: Path, source: Path, preset, recipe: dict) -> str:
    from media_pipeline.jobtypes.render_clip import ClipRecipe, render_clip_file
    from tests.media_pipeline.quality import (
        black_frames,
        frozen_frames,
        measure_loudness,
        stream_format,
    )

    work = Path(tempfile.mkdtemp(dir=directory))
    started = time.perf_counter()
    recipe = ClipRecipe.model_validate({"segments": CUTS, "audio_mode": "keep", **recipe})
    output = render_clip_file(BenchContext(work), recipe, preset=preset, source=source).output
    seconds = time.perf_counter() - started
    loud, fmt = measure_loudness(output), stream_format(output)
    on_target = abs(loud.integrated - preset.loudness_lufs) <= 1 and (
        loud.true_peak <= preset.true_peak_db
    )
    exact = (fmt.width, fmt.height, fmt.avg_frame_rate, fmt.video_codec, fmt.audio_codec) == (
        preset.width, preset.height, preset.fps, "h264", "aac"
    )  # fmt: skip
    black, frozen = len(black_frames(output)), len(frozen_frames(output, fps=preset.fps))
    ok = on_target and exact and not black and not frozen
    return (
        f"I {loud.integrated:6.1f} LUFS  TP {loud.true_peak:5.1f} dBTP  "
        f"{fmt.width}x{fmt.height}@{float(fmt.avg_frame_rate):g} {fmt.video_codec}/{fmt.audio_codec}"
        f"  black {black} frozen {frozen}  render {seconds:4.1f} s  {'ok' if ok else 'FAIL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="", help="comma-separated names; default: all")
    args = parser.parse_args()
    setup_django()
    from media_pipeline.ops.presets import PRESETS

    names = [n for n in args.presets.split(",") if n] or list(PRESETS)
    with tempfile.TemporaryDirectory(prefix="ef-quality-") as tmp:
        directory = Path(tmp)
        sources = {level: make_source(directory, amp) for level, amp in LEVELS.items()}
        for name in names:
            preset = PRESETS[name]
            print(f"{name} (target {preset.loudness_lufs:g} LUFS, TP <= {preset.true_peak_db:g})")
            for level, source in sources.items():
                print(
                    f"  {level:7} {render_and_measure(directory, source, preset, {})}", flush=True
                )
            voice = {"audio_mode": "replace", "tts": {"text": SPEECH, "provider": "offline"}}
            line = render_and_measure(directory, sources["quiet"], preset, voice)
            print(f"  speech  {line}", flush=True)


if __name__ == "__main__":
    main()
