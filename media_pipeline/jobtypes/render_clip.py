"""The `render_clip` job type: a final clip in an export preset, with an optional TTS voice-over
(whether the video's length follows it: `sync`), subtitles burned in (`karaoke`: each word lit as
it is spoken), loudness normalised to the preset's target (an audio-only analysis first, then the
one encode), encoded once with +faststart. The result says what came out (`render_notes`).

`render_clip_file` is the reusable core (also used by the library's `clip_render`): it takes a
`ClipRecipe` (what to say and show) and a `Preset` (the format), and leaves an mp4 in the job's
temp dir."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pydantic

from jobs.queues import RENDERS
from jobs.registry import register
from media_pipeline.jobtypes._shared import store_video_with_thumbnail, subtitles_to_burn
from media_pipeline.jobtypes.render_notes import render_notes
from media_pipeline.jobtypes.tts import TtsParams, Voiceover, estimate_tts_cost, make_voiceover
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.loudness import loudness_target, normalise_loudness
from media_pipeline.ops.presets import DEFAULT_PRESET, Preset, get_preset
from media_pipeline.ops.probe import MediaInfo, probe_media, require_video
from media_pipeline.ops.render import (
    AudioMode,
    Piece,
    RenderSpec,
    Subtitles,
    SyncMode,
    build_render_args,
    plan_timeline,
    timeline_target,
)
from media_pipeline.ops.srt_validation import SrtText
from media_pipeline.ops.subtitles import SubtitleStyle
from media_pipeline.ops.tts.timings import words_to_srt


class Span(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    start: float = pydantic.Field(ge=0)
    end: float = pydantic.Field(gt=0)

    @pydantic.model_validator(mode="after")
    def end_after_start(self):
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ClipRecipe(pydantic.BaseModel):
    """Everything of a render but its format: the parts of the source, voice-over, subtitles."""

    model_config = pydantic.ConfigDict(extra="forbid")

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


class RenderClipParams(ClipRecipe):
    preset: str = DEFAULT_PRESET

    @pydantic.field_validator("preset")
    @classmethod
    def known_preset(cls, name: str) -> str:
        get_preset(name)  # ValueError names the known presets
        return name


def _pieces(spans: list[Span] | None, source: Path, info: MediaInfo) -> list[Piece]:
    duration = info.duration
    if spans is None:
        return [Piece(str(source), 0.0, duration, info.has_audio)]
    pieces = []
    for span in spans:
        if span.start >= duration:
            raise InvalidMediaError(
                f"segment {span.start}-{span.end} s starts after the source ends ({duration} s)"
            )
        pieces.append(Piece(str(source), span.start, min(span.end, duration), info.has_audio))
    return pieces


def _subtitles(ctx, params: ClipRecipe, voiceover, preset) -> tuple[Subtitles | None, str | None]:
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


@dataclass
class RenderedClip:
    spec: RenderSpec
    output: Path
    srt_text: str | None
    voiceover: Voiceover | None
    recipe: ClipRecipe | None = None


def render_clip_file(
    ctx, recipe: ClipRecipe, *, preset: Preset, source: Path, end: float = 95, thumbnail=False
) -> RenderedClip:
    """Render `source` following `recipe` in `preset` into the job's temp dir (`thumbnail`:
    with a JPEG of its middle beside it, made by the same ffmpeg run).
    Reports progress from 1 to `end` percent of the job."""
    loudness_target(preset)  # an impossible target fails now, before any paid voice-over
    ctx.progress(1, "probe", "Reading the source")
    info = require_video(probe_media(source), label="the source")
    pieces = _pieces(recipe.segments, source, info)
    extra = _pieces(recipe.extra_segments, source, info) if recipe.extra_segments else []
    voiceover = make_voiceover(ctx, recipe.tts, start=3, end=30) if recipe.tts else None
    target = timeline_target(
        recipe.sync,
        pieces_duration=sum(p.duration for p in pieces),
        voice_duration=voiceover.duration if voiceover else None,
    )
    try:
        timeline = plan_timeline(pieces, target, mode=recipe.sync, extra=extra)
    except ValueError as exc:  # segments too short to use: bad input, not worth a retry
        raise InvalidMediaError(str(exc)) from None
    subtitles, srt_text = _subtitles(ctx, recipe, voiceover, preset)
    output = Path(ctx.temp_dir) / f"clip_{preset.name}.mp4"
    spec = RenderSpec(
        pieces=tuple(timeline),
        preset=preset,
        output=str(output),
        voiceover=str(voiceover.wav) if voiceover else None,
        audio_mode=recipe.audio_mode,
        duck_level=recipe.duck_level,
        subtitles=subtitles,
        thumbnail=str(output.with_suffix(".jpg")) if thumbnail else None,
    )
    # The audio-only analysis is quick: the first few percent of the render stage.
    analysis = ctx.stage(32, 35, "render", f"Rendering {preset.label}: measuring loudness")
    spec = normalise_loudness(spec, on_progress=analysis, tracker=ctx)
    report = ctx.stage(35, end, "render", f"Rendering {preset.label}")
    run_ffmpeg(build_render_args(spec), duration=spec.duration, on_progress=report, tracker=ctx)
    return RenderedClip(spec, output, srt_text, voiceover, recipe)


def estimate_recipe_cost(recipe: ClipRecipe) -> Decimal:
    """Budgets: only an ElevenLabs voice-over costs money."""
    return estimate_tts_cost(recipe.tts) if recipe.tts is not None else Decimal(0)


@register(
    "render_clip",
    queue=RENDERS,
    params_schema=RenderClipParams,
    max_attempts=2,
    timeout=3600,
    label="Render clip",
    estimate_cost=estimate_recipe_cost,
)
def render_clip_handler(ctx, params: RenderClipParams) -> dict:
    rendered = render_clip_file(
        ctx,
        params,
        preset=get_preset(params.preset),
        source=ctx.input_path("source"),
        thumbnail=True,
    )
    ctx.progress(96, "store", "Storing the clip")
    store_video_with_thumbnail(
        ctx,
        rendered.output,
        duration=rendered.spec.duration,
        thumbnail=Path(rendered.spec.thumbnail),
    )
    if rendered.srt_text:
        srt_path = rendered.output.with_suffix(".srt")
        srt_path.write_text(rendered.srt_text, encoding="utf-8")
        ctx.add_file(srt_path, label="srt")
    result = rendered_clip_result(rendered)
    ctx.progress(100, "done", "Clip rendered")
    return result


def rendered_clip_result(rendered: RenderedClip) -> dict:
    """The job result of a render: what the output is (probed) and how it was made."""
    spec, voiceover = rendered.spec, rendered.voiceover
    info = probe_media(rendered.output, rotation=False)
    notes = render_notes(
        rendered.recipe, srt_text=rendered.srt_text, voiceover=voiceover, duration=info.duration
    )
    return {
        "preset": spec.preset.name,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "size_bytes": info.size_bytes,
        "audio_mode": spec.audio_mode.value,
        "timeline": [{"start": p.start, "end": p.end} for p in spec.pieces],
        "subtitles": bool(rendered.srt_text),
        "voiceover": None if voiceover is None else voiceover.summary(),
        **notes,
        # everything the user should know (the admin shows it): the fallback, then the warnings
        "notices": [
            *([voiceover.notice] if voiceover and voiceover.notice else []),
            *notes["warnings"],
        ],
    }
