"""Final renders: a timeline of source pieces, optional voice-over and subtitles, encoded once in a
platform preset.

Everything happens in ONE ffmpeg command: each piece is cut at the input (accurate seek),
normalised (fps, scale-to-cover, crop, square pixels), concatenated, subtitled and encoded; the
final frames are never re-encoded twice. Argument lists are built here as pure functions with
ffmpeg-python (which escapes filter option values) and run by `ffmpeg_run`.

The audio's loudness is set by `loudness`: it measures the mix built by `build_mixed_audio`
(no video read) and hands the render the filters that bring it to the preset's target in
`RenderSpec.audio_filters`.
"""

import itertools
from collections import Counter
from dataclasses import dataclass, replace
from enum import StrEnum

import ffmpeg

from media_pipeline.ops.encoder import x264_params
from media_pipeline.ops.presets import Preset

AUDIO_RATE = 48000


class AudioMode(StrEnum):
    KEEP = "keep"  # the sources' own audio
    REPLACE = "replace"  # only the voice-over (silence without one)
    DUCK = "duck"  # the voice-over over the sources' audio lowered to duck_level


class SyncMode(StrEnum):
    """How long the video runs against a voice-over (without one: the pieces' own length)."""

    TRIM = "trim"  # the voice-over's length, never past the pieces: cut, never repeated
    EXTEND = "extend"  # the voice-over's length: after the pieces the extra segments, then loop
    LOOP = "loop"  # the voice-over's length: the pieces cut, or repeated to reach it
    KEEP = "keep"  # the pieces' own length: a longer voice-over is cut at their end


def timeline_target(
    mode: SyncMode, *, pieces_duration: float, voice_duration: float | None
) -> float:
    """The length `plan_timeline` aims at: the voice-over's, unless there is none or `mode`
    keeps the pieces' own length."""
    if voice_duration is None or mode is SyncMode.KEEP:
        return pieces_duration
    return voice_duration


@dataclass(frozen=True)
class Piece:
    path: str
    start: float
    end: float
    has_audio: bool = True

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Subtitles:
    ass_path: str
    fonts_dir: str


# An audio filter as (name, ((option, value), ...)): hashable, and compared as plain data.
AudioFilter = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class RenderSpec:
    pieces: tuple[Piece, ...]
    preset: Preset
    output: str
    voiceover: str | None = None
    audio_mode: AudioMode = AudioMode.KEEP
    duck_level: float = 0.15
    subtitles: Subtitles | None = None
    # Filters applied to the final mix, then back to AUDIO_RATE (set by media_pipeline.ops.loudness);
    # empty: the mix is encoded as it is.
    audio_filters: tuple[AudioFilter, ...] = ()
    # A JPEG of the output's middle frame, written by the same ffmpeg run (None: no thumbnail).
    thumbnail: str | None = None

    @property
    def duration(self) -> float:
        return round(sum(p.duration for p in self.pieces), 3)


MIN_PIECE = 0.05  # shorter leftovers are dropped rather than rendered as a flash
THUMBNAIL_WIDTH, THUMBNAIL_QUALITY = 360, 3  # pixels; JPEG quality scale of ffmpeg (2-31)


def plan_timeline(
    pieces: list[Piece], target: float, *, mode: SyncMode = SyncMode.EXTEND, extra: list[Piece] = ()
) -> list[Piece]:
    """Pieces covering exactly `target` seconds (the voice-over's length).

    Longer pieces are trimmed at the target. Shorter ones are completed according to `mode`:
    TRIM (and KEEP, whose target is the pieces' length) leaves the timeline short, EXTEND
    appends `extra` segments then loops everything, LOOP repeats the pieces."""
    if target <= 0:
        raise ValueError("the target duration must be positive")
    extras = list(extra) if mode is SyncMode.EXTEND else []
    source = [p for p in [*pieces, *extras] if p.duration >= MIN_PIECE]
    if not source:
        raise ValueError(f"the timeline has no piece of at least {MIN_PIECE} s")
    timeline, total = [], 0.0
    once = mode in (SyncMode.TRIM, SyncMode.KEEP)
    for piece in source if once else itertools.cycle(source):
        if total >= target - MIN_PIECE:
            break
        take = min(piece.duration, target - total)
        timeline.append(replace(piece, end=round(piece.start + take, 3)))
        total += take
    return timeline


def cover_crop(width: int, height: int) -> dict[str, str]:
    """The centre of the input with the aspect ratio of width x height (an even size, as 4:2:0
    needs), as `crop` options: cropped before scaling, the scaler makes only the output's pixels
    (scaling a 1920x1080 source up to 3413x1920 to keep its middle third made 3x as many, and
    held those frames: ~20 MB more for a 1080x1920 render)."""
    return {
        "w": f"min(iw,2*round(ih*{width}/{height}/2))",
        "h": f"min(ih,2*round(iw*{height}/{width}/2))",
    }


def _video_chain(stream, preset: Preset):
    """Every piece ends up in the preset's frame: same fps, centre crop to its shape, scale,
    SAR 1. Its frames start exactly at the cut (the first frame repeated when the cut falls
    between two source frames) and never run out (the last one repeated): `_frame_counts` says
    where it ends."""
    return (
        stream.filter("fps", fps=preset.fps, start_time=0)
        .filter("tpad", stop=-1, stop_mode="clone")
        .filter("crop", **cover_crop(preset.width, preset.height))
        .filter("scale", w=preset.width, h=preset.height)
        .filter("setsar", r=1)
        .filter("format", pix_fmts="yuv420p")
    )


def _audio_chain(stream):
    return stream.filter("aresample", AUDIO_RATE).filter("aformat", channel_layouts="stereo")


def _silence(duration: float):
    return ffmpeg.input(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi", t=f"{duration:.3f}")


def _fan_out(stream, count: int, split: str) -> list:
    """`count` copies of a stream: a piece used twice on the timeline (looping) is one input
    split in the graph (ffmpeg-python merges identical inputs into one node)."""
    if count == 1:
        return [stream]
    node = stream.filter_multi_output(split, outputs=count)
    return [node.stream(i) for i in range(count)]


class _Sources:
    """One input per distinct piece, its normalised streams handed out in timeline order.
    `video=False` opens the inputs with `-vn`: their video is neither decoded nor filtered."""

    def __init__(self, spec: RenderSpec, *, video: bool = True):
        counts = Counter(spec.pieces)
        self.video, self.audio = {}, {}
        for piece, count in counts.items():
            no_video = {} if video else {"vn": None}
            inp = ffmpeg.input(
                piece.path, ss=f"{piece.start:.3f}", t=f"{piece.duration:.3f}", **no_video
            )
            if video:
                self.video[piece] = _fan_out(_video_chain(inp.video, spec.preset), count, "split")
            audio = _audio_chain(inp.audio) if piece.has_audio else _silence(piece.duration).audio
            self.audio[piece] = _fan_out(audio, count, "asplit")

    def take_video(self, piece):
        return self.video[piece].pop()

    def take_audio(self, piece):
        return self.audio[piece].pop()


def _concat(streams: list, *, video: bool):
    if len(streams) == 1:
        return streams[0]
    return ffmpeg.concat(*streams, v=int(video), a=int(not video))


def _mixed_audio(spec: RenderSpec, sources: _Sources):
    original = _concat([sources.take_audio(p) for p in spec.pieces], video=False)
    if spec.audio_mode is AudioMode.KEEP or (
        spec.voiceover is None and spec.audio_mode is AudioMode.DUCK
    ):
        return original
    if spec.voiceover is None:
        return _silence(spec.duration).audio
    voice = _audio_chain(ffmpeg.input(spec.voiceover).audio).filter("apad")
    if spec.audio_mode is AudioMode.REPLACE:
        return voice
    ducked = original.filter("volume", volume=f"{spec.duck_level:.3f}")
    return ffmpeg.filter([ducked, voice], "amix", inputs=2, duration="first", normalize=0)


def _filtered(audio, filters: tuple[AudioFilter, ...]):
    """The spec's audio filters; they may change the rate (loudnorm, oversampling), hence the
    resampling back to the output rate after them."""
    if not filters:
        return audio
    for name, options in filters:
        audio = audio.filter(name, **dict(options))
    return audio.filter("aresample", AUDIO_RATE)


def build_mixed_audio(spec: RenderSpec):
    """The render's final audio alone (same pieces, seeks, voice-over, ducking and audio
    filters), from inputs opened without their video: what the loudness analysis measures."""
    if not spec.pieces:
        raise ValueError("nothing to render")
    return _filtered(_mixed_audio(spec, _Sources(spec, video=False)), spec.audio_filters)


def _frame_counts(pieces, fps: int) -> list[int]:
    """Frames of each piece on the timeline. The audio is cut to the sample, the video only on
    whole frames: each cut is put on the frame nearest its exact place on the timeline, so the
    rounding never adds up. (Left to the fps filter, every piece ran up to a frame past its
    audio, and after five cuts the picture lagged the sound by 170 ms.)"""
    durations = (p.duration for p in pieces)
    edges = [round(t * fps) for t in itertools.accumulate(durations, initial=0.0)]
    return [end - start for start, end in itertools.pairwise(edges)]


def build_render_args(spec: RenderSpec) -> list[str]:
    """The single ffmpeg invocation of a final render (without the runner's global options)."""
    if not spec.pieces:
        raise ValueError("nothing to render")
    sources = _Sources(spec)
    frames = _frame_counts(spec.pieces, spec.preset.fps)
    pieces = [
        sources.take_video(p).filter("trim", end_frame=n)
        for p, n in zip(spec.pieces, frames, strict=True)
    ]
    video = _concat(pieces, video=True)
    if spec.subtitles:
        video = video.filter(
            "ass", filename=spec.subtitles.ass_path, fontsdir=spec.subtitles.fonts_dir
        )
    thumbnail = None
    if spec.thumbnail:
        video, picture = _fan_out(video, 2, "split")
        thumbnail = _thumbnail_output(picture, spec.thumbnail, frame=sum(frames) // 2)
    audio = _filtered(_mixed_audio(spec, sources), spec.audio_filters)
    preset = spec.preset
    out = ffmpeg.output(
        video,
        audio,
        spec.output,
        t=f"{spec.duration:.3f}",
        vcodec="libx264",
        preset=preset.x264_preset,
        crf=preset.crf,
        maxrate=f"{preset.video_maxrate_kbps}k",
        bufsize=f"{preset.bufsize_kbps}k",
        g=preset.fps * 2,
        r=preset.fps,
        acodec="aac",
        ar=AUDIO_RATE,
        movflags="+faststart",
        **{
            "b:a": f"{preset.audio_bitrate_kbps}k",
            "profile:v": "high",
            "x264-params": x264_params(preset.x264_preset),
        },
    )
    return (ffmpeg.merge_outputs(out, thumbnail) if thumbnail else out).get_args()


def _thumbnail_output(video, path: str, *, frame: int):
    """The render's frame number `frame` (its middle), as a JPEG THUMBNAIL_WIDTH wide: taken
    from the frames being encoded, with no second decode of the output."""
    picture = video.filter("select", f"eq(n,{frame})").filter("scale", w=THUMBNAIL_WIDTH, h=-2)
    return picture.output(path, vframes=1, **{"q:v": THUMBNAIL_QUALITY})


def build_thumbnail_args(
    video: str, output: str, *, at: float, width: int = THUMBNAIL_WIDTH
) -> list[str]:
    """One JPEG frame of `video` at `at` seconds, `width` pixels wide."""
    return (
        ffmpeg.input(video, ss=f"{max(at, 0):.3f}")
        .video.filter("scale", w=width, h=-2)
        .output(output, vframes=1, **{"q:v": THUMBNAIL_QUALITY})
        .get_args()
    )
