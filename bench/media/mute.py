"""mute_voice against one hand-written ffmpeg command producing the same output, on a 60 s
1080p30 talk with two stretches of speech (eSpeak NG over a quiet noise bed).

- bare: `-c:v copy`, the first audio track through `volume` with the same envelope (the ramps
  of mute_voice around the spans it found, written as an ffmpeg expression), AAC at the same
  bitrate: what one would type knowing where the speech is.
- mute_voice: the operation (probe, speech detection, the muting pass), as `process` and
  `project_generate` call it.
- job: the `mute_voice` job run in-process (the engine's claim, progress writes, the output
  stored), with an upload in the default storage.

ROUNDS interleaved rounds (the order rotates); medians of wall and CPU time (this process and
its ffmpeg children) and their ratios; the load average before and after. The source is made
once into $EF_BENCH_CACHE.

uv run python -m bench.media mute [--rounds 5]
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from bench._common import cache_dir, embedded_redis
from bench.media._setup import setup_django

SECONDS = 60
SPEECH = ((8.0, 22.0), (36.0, 50.0))  # where the two stretches of speech go
TEXT = (
    "Welcome back to the channel. Today we are cutting a long interview into short clips, "
    "and every clip needs its voice turned down under the music. Watch the timeline closely. "
)
TARGET = 1.1


def _speech_track(directory: Path) -> Path:
    """eSpeak speech filling each stretch of SPEECH, silence elsewhere, as a mono WAV."""
    from media_pipeline.ops.tts.espeak import synthesize

    speech = synthesize(TEXT * 3)
    rate = speech.sample_rate
    voice = np.frombuffer(speech.samples, dtype=np.int16)
    track = np.zeros(SECONDS * rate, dtype=np.int16)
    for start, end in SPEECH:
        length = int((end - start) * rate)
        track[int(start * rate) : int(start * rate) + length] = voice[:length]
    path = directory / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(track.tobytes())
    return path


def make_source() -> Path:
    """60 s of 1080p30 H.264 whose stereo AAC audio is the speech over pink noise (made once)."""
    import ffmpeg

    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    path = cache_dir() / "talk-1080p30-60s-two-stretches.mp4"
    if path.exists():
        return path
    with tempfile.TemporaryDirectory() as tmp:
        speech = ffmpeg.input(str(_speech_track(Path(tmp))))
        video = ffmpeg.input(f"testsrc2=size=1920x1080:rate=30:duration={SECONDS}", f="lavfi")
        bed = ffmpeg.input(f"anoisesrc=color=pink:amplitude=0.02:duration={SECONDS}", f="lavfi")
        audio = ffmpeg.filter([bed, speech], "amix", inputs=2, normalize=0, duration="first")
        partial = path.with_suffix(".partial.mp4")
        args = ffmpeg.output(
            video, audio, str(partial), vcodec="libx264", preset="veryfast", pix_fmt="yuv420p",
            acodec="aac", ac=2, ar=44100, audio_bitrate="192k",
        ).get_args()  # fmt: skip
        run_ffmpeg(args)
        partial.rename(path)
    return path


def bare_args(source: Path, output: Path, intervals, params, bitrate: int) -> list[str]:
    """The same mute as one ffmpeg command: volume, evaluated per frame, on the same envelope."""
    fade = params.fade_ms / 1000
    depths = [
        f"clip(min(t-{i.start - fade:.4f},{i.end + fade:.4f}-t)/{fade},0,1)" for i in intervals
    ]
    depth = depths[0]
    for more in depths[1:]:
        depth = f"max({depth},{more})"
    cut = 1 - params.keep_percentage / 100
    return [
        "-i", str(source),
        "-map", "0:v?", "-map", "0:a:0",
        "-af", f"volume=eval=frame:volume='1-{cut}*{depth}'",
        "-c:v", "copy", "-c:a", "aac", "-b:a", str(bitrate),
        str(output),
    ]  # fmt: skip


def _cpu_seconds() -> float:
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(action):
    wall, cpu = time.perf_counter(), _cpu_seconds()
    value = action()
    return (time.perf_counter() - wall, _cpu_seconds() - cpu), value


def mute_job(source: Path, user) -> None:
    from django.core.files import File

    from jobs import services
    from jobs.runner import run_job

    with source.open("rb") as fh:
        job = services.job_create(
            job_type="mute_voice", owner=user, params={}, inputs={"source": File(fh, "talk.mp4")}
        )
    assert run_job(str(job.id)) == "completed"
    job.refresh_from_db()
    assert job.result["status"] == "muted", job.result


def main() -> None:
    parser = argparse.ArgumentParser(description="mute_voice vs one hand-written ffmpeg pass")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(sys.argv[2:] if sys.argv[1:2] == ["mute"] else sys.argv[1:])
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from media_pipeline.ops.ffmpeg_run import run_ffmpeg
    from media_pipeline.ops.voice_mute import VoiceMuteParams, audio_bitrate_for, mute_voice

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-mute")
    source, params = make_source(), VoiceMuteParams()
    load_before = os.getloadavg()
    with embedded_redis(), tempfile.TemporaryDirectory(prefix="ef-bench-mute-") as tmp:
        tmp = Path(tmp)
        first = mute_voice(source, tmp, params)  # warm-up: page cache, libraries, the VAD model
        intervals, bitrate = first.detection.intervals, audio_bitrate_for(192_000)
        runs = {
            "bare": lambda: run_ffmpeg(
                bare_args(source, tmp / "bare.mp4", intervals, params, bitrate)
            ),
            "mute_voice": lambda: mute_voice(source, tmp / "op", params),
            "job": lambda: mute_job(source, user),
        }
        (tmp / "op").mkdir()
        times = {name: [] for name in runs}
        for n in range(args.rounds):
            order = list(runs)[n % 3 :] + list(runs)[: n % 3]
            for name in order:
                times[name].append(_timed(runs[name])[0])
    load_after = os.getloadavg()
    report(first, times, load_before, load_after, args.rounds)


def report(first, times, load_before, load_after, rounds) -> None:
    spans = ", ".join(f"{i.start:.2f}-{i.end:.2f} s" for i in first.detection.intervals)
    print(f"speech found: {spans} ({first.detection.speech_seconds:.1f} s)")
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f"medians of {rounds} interleaved rounds        wall      CPU")
    for name, label in (
        ("bare", "bare pass (-c:v copy, volume)"),
        ("mute_voice", "mute_voice (detect + mute)"),
        ("job", "mute_voice job (in-process)"),
    ):
        print(f"{label:<38} {wall[name]:6.2f} s {cpu[name]:6.2f} s")
    for name in ("mute_voice", "job"):
        ratio = wall[name] / wall["bare"]
        print(f"ratio {name} / bare: {ratio:.2f}x wall ({cpu[name] / cpu['bare']:.2f}x CPU); "
              f"target at most {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}")  # fmt: skip
    for name, values in times.items():
        print(f"rounds {name}: {', '.join(f'{w:.2f}' for w, _ in values)}")
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}"
          .format(*load_before, *load_after))  # fmt: skip


if __name__ == "__main__":
    main()
