"""render_clip (the whole job: probe, timeline, subtitles, one encode, thumbnail, storage) vs one
hand-written ffmpeg command producing the same video.

Source: 12 s of 1080p30 testsrc2 with a tone, made once in a temp dir. Both render two segments
(0-4 s and 6-10 s) into the tiktok preset (1080x1920, libx264 medium CRF 20) with the same ASS
subtitles. The job runs in-process through the engine's runner; the baseline is a literal argv.
Alternating rounds; the ratio of the best times is the figure.

uv run python -m bench.media render
"""

import os
import tempfile
import time
from pathlib import Path

from bench._common import embedded_redis
from bench.media._setup import setup_django

ROUNDS = 3
TARGET_RATIO = 1.2
SRT = "1\n00:00:00,000 --> 00:00:03,000\nBenchmark caption\n\n2\n00:00:04,000 --> 00:00:07,500\nSecond caption\n"


def make_source(directory: Path) -> Path:
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = directory / "source.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=12", "-f", "lavfi", "-i", "sine=d=12",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    )  # fmt: skip
    return path


def hand_written(source: Path, ass: Path, fonts: str, out: Path) -> None:
    from media_pipeline.ops.ffmpeg_run import escape_filter_value, run_ffmpeg

    norm = "fps=30,scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920,setsar=1,format=yuv420p"
    graph = (
        f"[0:v]{norm}[v0];[1:v]{norm}[v1];[v0][v1]concat=n=2:v=1:a=0[v];"
        f"[v]ass=filename={escape_filter_value(str(ass))}:fontsdir={escape_filter_value(fonts)}[vs];"
        "[0:a]aresample=48000,aformat=channel_layouts=stereo[a0];[1:a]aresample=48000,aformat=channel_layouts=stereo[a1];"
        "[a0][a1]concat=n=2:v=0:a=1[a]"
    )
    run_ffmpeg(
        ["-ss", "0", "-t", "4", "-i", str(source), "-ss", "6", "-t", "4", "-i", str(source),
         "-filter_complex", graph, "-map", "[vs]", "-map", "[a]",
         "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-maxrate", "8000k", "-bufsize", "16000k",
         "-profile:v", "high", "-x264-params", f"rc-lookahead=10:threads={os.cpu_count()}", "-g", "60", "-r", "30", "-c:a", "aac", "-b:a", "192k", "-ar", "48000",
         "-movflags", "+faststart", "-t", "8", str(out)]
    )  # fmt: skip


def render_job(source: Path, user) -> float:
    from django.core.files import File

    from jobs import services
    from jobs.runner import run_job

    with source.open("rb") as fh:
        job = services.job_create(
            job_type="render_clip",
            owner=user,
            params={
                "preset": "tiktok",
                "segments": [{"start": 0, "end": 4}, {"start": 6, "end": 10}],
                "srt": SRT,
            },
            inputs={"source": File(fh, name="source.mp4")},
        )
    start = time.perf_counter()
    outcome = run_job(str(job.id))
    elapsed = time.perf_counter() - start
    job.refresh_from_db()
    assert outcome == "completed", job.error
    return elapsed


def main() -> None:
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from media_pipeline.ops.subtitles import build_ass, default_fonts_dir

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-render")
    # job_create enqueues (nobody dequeues: the job runs in-process below); a Redis avoids the
    # "could not enqueue" warnings.
    with embedded_redis(), tempfile.TemporaryDirectory(prefix="ef-bench-render-") as tmp:
        tmp = Path(tmp)
        source = make_source(tmp)
        ass = tmp / "subs.ass"
        ass.write_text(build_ass(SRT, width=1080, height=1920))
        base_times, job_times = [], []
        for n in range(ROUNDS):
            start = time.perf_counter()
            hand_written(source, ass, str(default_fonts_dir()), tmp / f"hand-{n}.mp4")
            base_times.append(time.perf_counter() - start)
            job_times.append(render_job(source, user))
    ratio = min(job_times) / min(base_times)
    print(
        f"hand-written ffmpeg: best {min(base_times):.2f} s; render_clip job: best {min(job_times):.2f} s"
    )
    print(f"ratio render_clip / hand-written: {ratio:.2f} (best of {ROUNDS}); target <= {TARGET_RATIO}: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
