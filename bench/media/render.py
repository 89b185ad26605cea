"""render_clip (the whole job: probe, timeline, subtitles, one encode, thumbnail, storage) vs one
hand-written ffmpeg command producing the same video, plain and with karaoke on.

Source: 12 s of 1080p30 testsrc2 with a tone, made once in a temp dir. Both render two segments
(0-4 s and 6-10 s) into the tiktok preset (1080x1920, libx264 medium CRF 20) with the same ASS
subtitles. The job runs in-process through the engine's runner; the baseline is a literal argv.

- plain: the SRT's captions, the source's sound.
- karaoke: an offline (eSpeak NG) voice-over whose words light up as they are spoken (karaoke
  on, captions from the voice's word timings), the source's sound ducked under it, and the
  clip's length kept (sync `keep`, 8 s). The job synthesizes the voice itself (in its time); the
  baseline is handed the same voice and word timings, made once beforehand by a `tts` job, and
  burns the same karaoke ASS.

Interleaved rounds (EF_BENCH_ROUNDS, default 5); the ratio of the median wall times is the
figure, with the load average.

EF_BENCH_ROUNDS=5 uv run python -m bench.media render
"""

import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import embedded_redis
from bench.media._setup import setup_django

ROUNDS = int(os.environ.get("EF_BENCH_ROUNDS", 5))
TARGET_RATIO = {"plain": 1.05, "karaoke": 1.2}
SRT = "1\n00:00:00,000 --> 00:00:03,000\nBenchmark caption\n\n2\n00:00:04,000 --> 00:00:07,500\nSecond caption\n"


def make_source(directory: Path) -> Path:
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = directory / "source.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=12", "-f", "lavfi", "-i", "sine=d=12",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    )  # fmt: skip
    return path


VOICE = "Three quick tips for better clips, spoken and lit up word by word."
NORM = "fps=30,crop=608:1080,scale=1080:1920,setsar=1,format=yuv420p"  # the middle 9:16 of 16:9
STEREO = "aresample=48000,aformat=channel_layouts=stereo"


def hand_written(source: Path, ass: Path, fonts: str, out: Path, voice: Path | None = None) -> None:
    """The render as one literal ffmpeg command; with `voice`, mixed over the source's sound
    lowered to 0.15 (the job's duck mode)."""
    from media_pipeline.ops.encoder import x264_params
    from media_pipeline.ops.ffmpeg_run import escape_filter_value, run_ffmpeg

    graph = (
        f"[0:v]{NORM}[v0];[1:v]{NORM}[v1];[v0][v1]concat=n=2:v=1:a=0[v];"
        f"[v]ass=filename={escape_filter_value(str(ass))}:fontsdir={escape_filter_value(fonts)}[vs];"
        f"[0:a]{STEREO}[a0];[1:a]{STEREO}[a1];[a0][a1]concat=n=2:v=0:a=1"
    )
    voice_input = []
    if voice is None:
        graph += "[a]"
    else:
        voice_input = ["-i", str(voice)]
        graph += (
            f"[orig];[orig]volume=0.15[low];[2:a]{STEREO},apad[vo];"
            "[low][vo]amix=inputs=2:duration=first:normalize=0[a]"
        )
    run_ffmpeg(
        ["-ss", "0", "-t", "4", "-i", str(source), "-ss", "6", "-t", "4", "-i", str(source), *voice_input,
         "-filter_complex", graph, "-map", "[vs]", "-map", "[a]",
         "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-maxrate", "8000k", "-bufsize", "16000k",
         "-profile:v", "high", "-x264-params", x264_params("medium"), "-g", "60", "-r", "30", "-c:a", "aac", "-b:a", "192k", "-ar", "48000",
         "-movflags", "+faststart", "-t", "8", str(out)]
    )  # fmt: skip


def _run_in_process(user, job_type: str, params: dict, inputs: dict | None = None):
    """Create a job and run it in this process; (the finished job, (wall, CPU) seconds it ran)."""
    from jobs import services
    from jobs.runner import run_job

    job = services.job_create(job_type=job_type, owner=user, params=params, inputs=inputs)
    outcome, times = _timed(lambda: run_job(str(job.id)))
    job.refresh_from_db()
    assert outcome == "completed", job.error
    return job, times


PLAIN = {"srt": SRT}
KARAOKE = {
    "tts": {"text": VOICE, "provider": "offline"},
    "karaoke": True,
    "sync": "keep",
    "audio_mode": "duck",
}


def render_job(source: Path, user, options: dict) -> tuple[float, float]:
    """The render as a job run in-process: (wall, CPU) seconds of the run (not the creation)."""
    from django.core.files import File

    params = {"preset": "tiktok", "segments": [{"start": 0, "end": 4}, {"start": 6, "end": 10}]}
    with source.open("rb") as fh:
        job, times = _run_in_process(
            user, "render_clip", {**params, **options}, {"source": File(fh, name="source.mp4")}
        )
    if options.get("karaoke"):
        assert job.result["karaoke"] is True and abs(job.result["duration"] - 8) < 0.1, job.result
    return times


def voice_and_karaoke_ass(tmp: Path, user) -> tuple[Path, Path]:
    """The voice-over and its karaoke ASS, made once by a `tts` job with the render's voice
    settings (the same synthesis and pause tightening as the render's)."""
    import json

    from django.core.files.storage import default_storage

    from jobs.models import JobFile
    from media_pipeline.ops.subtitles import build_ass
    from media_pipeline.ops.tts.timings import words_to_srt

    job, _ = _run_in_process(user, "tts", KARAOKE["tts"])
    files = {f.label: default_storage.path(f.name) for f in JobFile.objects.filter(job=job)}
    words = json.loads(Path(files["words"]).read_text())
    ass = tmp / "karaoke.ass"
    ass.write_text(build_ass(words_to_srt(words), width=1080, height=1920, words=words))
    return Path(files["audio"]), ass


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children (ffmpeg)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(action):
    """`action()`'s value and its (wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    value = action()
    return value, (time.perf_counter() - wall, _cpu_seconds() - cpu)


def measure(label: str, *, hand, job, rounds: int = ROUNDS) -> float:
    """Wall time is the figure (medians of interleaved rounds, the order alternating); CPU time
    (this process and its ffmpeg children) is printed too: on a machine shared with other work
    it moves far less than wall time does."""
    base, rendered = [], []
    for n in range(rounds):
        if n % 2:
            rendered.append(job())
        base.append(_timed(hand)[1])
        if not n % 2:
            rendered.append(job())
    (base_wall, base_cpu), (job_wall, job_cpu) = [
        (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for runs in (base, rendered)
    ]
    ratio = job_wall / base_wall
    print(
        f"{label}: hand-written ffmpeg median {base_wall:.2f} s ({base_cpu:.2f} s CPU); "
        f"render_clip job median {job_wall:.2f} s ({job_cpu:.2f} s CPU)"
    )
    print(f"{label}: ratio render_clip / hand-written: {ratio:.2f} (medians of {rounds}; CPU "
          f"time {job_cpu / base_cpu:.2f}; best of each {min(w for w, _ in rendered) / min(w for w, _ in base):.2f}); "
          f"target <= {TARGET_RATIO[label]}: {'met' if ratio <= TARGET_RATIO[label] else 'NOT met'}")  # fmt: skip
    print(f"{label}: rounds hand {', '.join(f'{w:.2f}' for w, _ in base)}; "
          f"job {', '.join(f'{w:.2f}' for w, _ in rendered)}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    return ratio


def main() -> None:
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from media_pipeline.ops.subtitles import build_ass, default_fonts_dir

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-render")
    fonts = str(default_fonts_dir())
    # job_create enqueues (nobody dequeues: the job runs in-process below); a Redis avoids the
    # "could not enqueue" warnings.
    with embedded_redis(), tempfile.TemporaryDirectory(prefix="ef-bench-render-") as tmp:
        tmp = Path(tmp)
        source = make_source(tmp)
        ass = tmp / "subs.ass"
        ass.write_text(build_ass(SRT, width=1080, height=1920))
        measure(
            "plain",
            hand=lambda: hand_written(source, ass, fonts, tmp / "hand.mp4"),
            job=lambda: render_job(source, user, PLAIN),
        )
        voice, karaoke_ass = voice_and_karaoke_ass(tmp, user)
        measure(
            "karaoke",
            hand=lambda: hand_written(source, karaoke_ass, fonts, tmp / "hand-k.mp4", voice),
            job=lambda: render_job(source, user, KARAOKE),
        )


if __name__ == "__main__":
    main()
