"""mute_voice (speech detection + the muting ffmpeg pass) against one bare ffmpeg pass that
copies the video and runs an audio filter on the same file. Target: at most 1.5x.

uv run python -m bench.media mute
"""

import resource
import statistics
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from bench.media._setup import setup_django

SECONDS = 60
ROUNDS = 5
TARGET = 1.5
TEXT = (
    "Welcome back to the channel. Today we are cutting a long interview into short clips, "
    "and every clip needs its voice turned down under the music. Watch the timeline closely."
)
GAP_SECONDS = 2.5  # silence between repetitions of the speech


def _speech_track(directory: Path) -> Path:
    """eSpeak speech repeated with pauses up to SECONDS, as a mono WAV."""
    from media_pipeline.ops.tts.espeak import synthesize

    speech = synthesize(TEXT)
    voice = np.frombuffer(speech.samples, dtype=np.int16)
    gap = np.zeros(int(GAP_SECONDS * speech.sample_rate), dtype=np.int16)
    block = np.concatenate((gap, voice))
    reps = int(np.ceil(SECONDS * speech.sample_rate / block.size))
    track = np.tile(block, reps)[: SECONDS * speech.sample_rate]
    path = directory / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(track.tobytes())
    return path


def make_source(directory: Path) -> Path:
    """A 60 s 1080p30 H.264 video whose stereo AAC audio is speech over a quiet noise bed."""
    import ffmpeg

    from media_pipeline.ops.ffmpeg_run import run_ffmpeg

    speech = ffmpeg.input(str(_speech_track(directory)))
    video = ffmpeg.input(f"testsrc2=size=1920x1080:rate=30:duration={SECONDS}", f="lavfi")
    bed = ffmpeg.input(f"anoisesrc=color=pink:amplitude=0.02:duration={SECONDS}", f="lavfi")
    audio = ffmpeg.filter([bed, speech], "amix", inputs=2, normalize=0, duration="first")
    out = directory / "source.mp4"
    args = ffmpeg.output(
        video, audio, str(out), vcodec="libx264", preset="veryfast", pix_fmt="yuv420p",
        acodec="aac", ac=2, ar=44100, audio_bitrate="192k",
    ).get_args()  # fmt: skip
    run_ffmpeg(args)
    return out


def baseline_args(source: Path, output: Path, audio_filter: tuple[str, dict]) -> list[str]:
    """A bare pass: the video copied, one audio filter, AAC at the bitrate mute_voice picks."""
    import ffmpeg

    src = ffmpeg.input(str(source))
    name, options = audio_filter
    audio = src["a:0"].filter(name, **options)
    return ffmpeg.output(
        src["v?"], audio, str(output), vcodec="copy", acodec="aac", audio_bitrate=192_000
    ).get_args()


def hand_mute_filter(intervals, keep: float) -> tuple[str, dict]:
    """What one would write by hand to mute known spans: `volume` on a timeline, no fades.
    The AAC encoder then sees the same quiet signal as in mute_voice's output (it spends
    ~10 % more time on quiet audio than on the same audio at half volume)."""
    spans = "+".join(f"between(t,{i.start:.3f},{i.end:.3f})" for i in intervals)
    return "volume", {"volume": keep, "enable": spans}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn, *args) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    value = fn(*args)
    return time.perf_counter() - wall, _cpu_seconds() - cpu, value


def main() -> None:
    setup_django()
    from media_pipeline.ops.ffmpeg_run import run_ffmpeg
    from media_pipeline.ops.probe import probe_media
    from media_pipeline.ops.voice_detect import detect_voice
    from media_pipeline.ops.voice_mute import VoiceMuteParams, mute_voice

    with tempfile.TemporaryDirectory(prefix="bench-mute-") as tmp:
        directory = Path(tmp)
        made, _, source = _timed(make_source, directory)
        info = probe_media(source)
        print(f"source: {info.width}x{info.height} {info.fps} fps, "
              f"{info.duration:.1f} s ({made:.1f} s to generate)")  # fmt: skip
        params = VoiceMuteParams()
        spans = detect_voice(source, params).intervals  # also the warm-up (page cache, libraries)
        baselines = {
            "hand": hand_mute_filter(spans, params.keep_percentage / 100),
            "half": ("volume", {"volume": 0.5}),
        }

        runs = {"hand": [], "half": [], "mute": [], "detect": []}
        result = None
        for n in range(ROUNDS):  # interleaved, so load from other processes hits all alike
            out_dir = directory / f"round-{n}"
            out_dir.mkdir()
            for key, audio_filter in baselines.items():
                args = baseline_args(source, out_dir / f"{key}.mp4", audio_filter)
                runs[key].append(_timed(run_ffmpeg, args))
            runs["mute"].append(_timed(mute_voice, source, out_dir, params))
            runs["detect"].append(_timed(detect_voice, source, params))
            result = runs["mute"][-1][2]

        wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
        speech = result.detection.speech_seconds
        print(f"speech found: {len(result.detection.intervals)} interval(s), {speech:.1f} s")
        print(f"medians of {ROUNDS} interleaved rounds              wall      CPU")
        for key, label in (
            ("hand", "bare pass: -c:v copy, volume on the spans"),
            ("half", "bare pass: -c:v copy, volume=0.5"),
            ("mute", "mute_voice (detect + mute pass)"),
            ("detect", "  of which detection (decode + VAD)"),
        ):
            print(f"{label:<46} {wall[key]:6.2f} s {cpu[key]:6.2f} s")
        print(f"detection speed: {info.duration / wall['detect']:.0f}x real time")
        for key in ("hand", "half"):
            ratio = wall["mute"] / wall[key]
            verdict = "met" if ratio <= TARGET else "NOT met"
            print(f"ratio mute_voice / bare pass ({key}): {ratio:.2f}x wall "
                  f"({cpu['mute'] / cpu[key]:.2f}x CPU); target at most {TARGET}x: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
