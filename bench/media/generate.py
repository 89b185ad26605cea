"""Project generation (3 variants of 20 s from a 60 s 1080p30 talk) against the bare ffmpeg
passes that produce the same variants: the same cuts, the same encoder settings, one
hand-written command per variant.

- generation: a `project_generate` job run in-process, as `POST /library/projects/{id}/generate`
  starts it on an uploaded source video: the analysis that chooses the cuts, the three renders,
  their thumbnails, the clips stored.
- bare: for each variant the generation made (its cuts read from the clips), one ffmpeg
  command: every cut an input with an accurate seek, concatenated, encoded with the settings
  of the variants (x264 veryfast CRF 21 at the source's size, the product's encoder bounds,
  AAC 192k at 48 kHz). Nothing else: choosing the cuts is the generation's own work.

ROUNDS interleaved rounds (the order alternates); medians of wall and CPU time (this process
and its ffmpeg children) and their ratio; the load average before and after.

uv run python -m bench.media generate [--rounds 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench._common import embedded_redis
from bench.media._setup import setup_django
from bench.media.mute import _timed, make_source

VARIANTS, TARGET_SECONDS = 3, 20
TARGET = 1.2


def bare_args(source: Path, cuts, output: Path, *, fps: int, size: tuple[int, int]) -> list[str]:
    """One variant as one hand-written command (what `source_preset` and `build_render_args`
    encode: the source's size and frame rate, veryfast, CRF 21, maxrate 10 Mb/s)."""
    from media_pipeline.ops.encoder import x264_params

    inputs, links = [], ""
    for n, (start, end) in enumerate(cuts):
        inputs += ["-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i", str(source)]
        links += f"[{n}:v][{n}:a]"
    width, height = size
    return [
        *inputs,
        "-filter_complex", f"{links}concat=n={len(cuts)}:v=1:a=1[v][a]",
        "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "21", "-maxrate", "10000k",
        "-bufsize", "20000k", "-profile:v", "high", "-x264-params", x264_params("veryfast"),
        "-g", str(fps * 2), "-r", str(fps), "-s", f"{width}x{height}", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-movflags", "+faststart",
        str(output),
    ]  # fmt: skip


def generate(project, video, user):
    """The generation job, run in-process; the clips it made."""
    from jobs.runner import run_job
    from media_pipeline.library.generation import project_generate_from_video
    from media_pipeline.library.models import Clip

    job = project_generate_from_video(
        owner=user,
        project=project,
        variant_count=VARIANTS,
        target_duration=TARGET_SECONDS,
        source_video=video,
    )
    outcome = run_job(str(job.id))
    job.refresh_from_db()
    assert outcome == "completed", job.error
    return list(Clip.objects.filter(id__in=job.result["clip_ids"]).order_by("variant_index"))


def main() -> None:
    parser = argparse.ArgumentParser(description="project generation vs bare ffmpeg passes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(sys.argv[2:] if sys.argv[1:2] == ["generate"] else sys.argv[1:])
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from media_pipeline.library import media as library_media
    from media_pipeline.library.projects import project_create
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg
    from media_pipeline.ops.probe import probe_media

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-generate")
    source = make_source()
    info = probe_media(source)
    load_before = os.getloadavg()
    with embedded_redis(), tempfile.TemporaryDirectory(prefix="ef-bench-generate-") as tmp:
        upload = SimpleUploadedFile("talk.mp4", source.read_bytes(), "video/mp4")
        video = library_media.source_video_create(owner=user, upload=upload, info=info)
        project = project_create(owner=user, name="bench")
        clips = generate(project, video, user)  # warm-up; its cuts are the baseline's
        cuts = [[(s["start"], s["end"]) for s in clip.segments] for clip in clips]
        size = (info.width, info.height)

        def bare():
            for n, variant in enumerate(cuts):
                out = Path(tmp) / f"bare_{n}.mp4"
                run_ffmpeg(bare_args(source, variant, out, fps=round(info.fps), size=size))

        times = {"bare": [], "generation": []}
        for n in range(args.rounds):
            for name in ("bare", "generation") if n % 2 == 0 else ("generation", "bare"):
                action = bare if name == "bare" else lambda: generate(project, video, user)
                times[name].append(_timed(action)[0])
    report(cuts, times, load_before, os.getloadavg(), args.rounds)


def report(cuts, times, load_before, load_after, rounds) -> None:
    for n, variant in enumerate(cuts, start=1):
        pieces = ", ".join(f"{s:.2f}-{e:.2f}" for s, e in variant)
        print(f"variant {n}: {pieces} s")
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f"medians of {rounds} interleaved rounds           wall      CPU")
    print(
        f"bare ffmpeg passes ({len(cuts)} commands)           {wall['bare']:6.2f} s {cpu['bare']:6.2f} s"
    )
    print(
        f"project generation (job, in-process)   {wall['generation']:6.2f} s {cpu['generation']:6.2f} s"
    )
    ratio = wall["generation"] / wall["bare"]
    print(
        f"ratio generation / bare: {ratio:.2f}x wall ({cpu['generation'] / cpu['bare']:.2f}x "
        f"CPU); target at most {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}"
    )
    for name, values in times.items():
        print(f"rounds {name}: {', '.join(f'{w:.2f} s ({c:.2f} CPU)' for w, c in values)}")
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}"
          .format(*load_before, *load_after))  # fmt: skip


if __name__ == "__main__":
    main()
