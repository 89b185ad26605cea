"""The `render_clip` job type: a final clip in an export preset, with an optional TTS voice-over
(the video's length follows the voice), subtitles burned in, encoded once with +faststart."""

from pathlib import Path

import pydantic

from jobs.registry import register

from ..errors import InvalidMediaError
from ..ffmpeg_run import run_ffmpeg
from ..presets import DEFAULT_PRESET, get_preset
from ..probe import probe_media, require_video
from ..render import (
    AudioMode,
    Piece,
    RenderSpec,
    Subtitles,
    SyncMode,
    build_render_args,
    plan_timeline,
)
from ..srt_validation import SrtText
from ..subtitles import SubtitleStyle
from ..tts.timings import words_to_srt
from ._shared import store_video_with_thumbnail, subtitles_to_burn
from .tts import TtsParams, make_voiceover


class Span(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    start: float = pydantic.Field(ge=0)
    end: float = pydantic.Field(gt=0)

    @pydantic.model_validator(mode="after")
    def end_after_start(self):
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RenderClipParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    preset: str = DEFAULT_PRESET
    segments: list[Span] | None = pydantic.Field(
        None, max_length=200, description="parts of the source; default: all"
    )
    extra_segments: list[Span] = pydantic.Field(
        default_factory=list,
        max_length=200,
        description="used to extend the video to the voice-over",
    )
    tts: TtsParams | None = None
    srt: SrtText | None = None
    subtitle_style: SubtitleStyle = pydantic.Field(default_factory=SubtitleStyle)
    karaoke: bool = False
    audio_mode: AudioMode = AudioMode.DUCK
    duck_level: float = pydantic.Field(0.15, ge=0, le=1)
    sync: SyncMode = SyncMode.EXTEND

    @pydantic.field_validator("preset")
    @classmethod
    def known_preset(cls, name: str) -> str:
        get_preset(name)  # ValueError names the known presets
        return name


def _pieces(spans: list[Span] | None, source: Path, info: dict) -> list[Piece]:
    duration = info["duration"]
    if spans is None:
        return [Piece(str(source), 0.0, duration, info["has_audio"])]
    pieces = []
    for span in spans:
        if span.start >= duration:
            raise InvalidMediaError(
                f"segment {span.start}-{span.end} s starts after the source ends ({duration} s)"
            )
        pieces.append(Piece(str(source), span.start, min(span.end, duration), info["has_audio"]))
    return pieces


def _subtitles(
    ctx, params: RenderClipParams, voiceover, preset
) -> tuple[Subtitles | None, str | None]:
    """The ASS to burn (from the given SRT, else from the voice-over's word timings)."""
    words = voiceover.words if voiceover else None
    srt_text = params.srt or (words_to_srt(words) if words else None)
    if not srt_text:
        return None, None
    subtitles = subtitles_to_burn(
        ctx,
        srt_text,
        width=preset.width,
        height=preset.height,
        style=params.subtitle_style,
        words=words if params.karaoke else None,
    )
    return subtitles, srt_text


@register(
    "render_clip", params_schema=RenderClipParams, max_attempts=2, timeout=3600, label="Render clip"
)
def render_clip_handler(ctx, params: RenderClipParams) -> dict:
    preset = get_preset(params.preset)
    ctx.progress(1, "probe", "Reading the source")
    source = ctx.input_path("source")
    info = require_video(probe_media(source), label="the source")
    pieces = _pieces(params.segments, source, info)
    extra = _pieces(params.extra_segments, source, info) if params.extra_segments else []
    voiceover = make_voiceover(ctx, params.tts, start=3, end=30) if params.tts else None
    target = voiceover.duration if voiceover else sum(p.duration for p in pieces)
    try:
        timeline = plan_timeline(pieces, target, mode=params.sync, extra=extra)
    except ValueError as exc:  # segments too short to use: bad input, not worth a retry
        raise InvalidMediaError(str(exc)) from None
    subtitles, srt_text = _subtitles(ctx, params, voiceover, preset)
    output = Path(ctx.temp_dir) / f"clip_{preset.name}.mp4"
    spec = RenderSpec(
        pieces=tuple(timeline),
        preset=preset,
        output=str(output),
        voiceover=str(voiceover.wav) if voiceover else None,
        audio_mode=params.audio_mode,
        duck_level=params.duck_level,
        subtitles=subtitles,
    )
    report = ctx.stage(32, 95, "render", f"Rendering {preset.label}")
    run_ffmpeg(build_render_args(spec), duration=spec.duration, on_progress=report, tracker=ctx)
    return _save(ctx, spec, output, srt_text, voiceover)


def _save(ctx, spec: RenderSpec, output: Path, srt_text, voiceover) -> dict:
    ctx.progress(96, "thumbnail", "Making the thumbnail")
    store_video_with_thumbnail(ctx, output, duration=spec.duration)
    if srt_text:
        srt_path = output.with_suffix(".srt")
        srt_path.write_text(srt_text, encoding="utf-8")
        ctx.add_file(srt_path, label="srt")
    info = probe_media(output)
    ctx.progress(100, "done", "Clip rendered")
    return {
        "preset": spec.preset.name,
        "duration": info["duration"],
        "width": info["width"],
        "height": info["height"],
        "size_bytes": info["size_bytes"],
        "audio_mode": spec.audio_mode.value,
        "timeline": [{"start": p.start, "end": p.end} for p in spec.pieces],
        "subtitles": bool(srt_text),
        "voiceover": None
        if voiceover is None
        else {
            "provider": voiceover.provider,
            "voice": voiceover.voice,
            "duration": voiceover.duration,
            "fallback": voiceover.fallback,
        },
    }
