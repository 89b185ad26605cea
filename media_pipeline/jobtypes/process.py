"""The `process` job type: 1–10 clip variants of a target duration from the analysed segments of
one source, each encoded once (with optional subtitles and audio track) plus a thumbnail.

`find_segments` and `render_variants` are shared with the library's `project_generate` job type,
which stores the same renders as clips instead of job files."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pydantic
from django.utils.text import get_valid_filename

from jobs.queues import RENDERS
from jobs.registry import register
from media_pipeline.jobtypes._shared import subtitles_to_burn
from media_pipeline.jobtypes.analyze import gemini_analysis
from media_pipeline.jobtypes.tts import TtsParams, estimate_tts_cost, make_voiceover
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.gemini import GeminiError
from media_pipeline.ops.presets import Preset
from media_pipeline.ops.probe import MediaInfo, probe_media, require_video
from media_pipeline.ops.render import (
    AudioMode,
    Piece,
    RenderSpec,
    Subtitles,
    build_render_args,
)
from media_pipeline.ops.srt_validation import SrtText
from media_pipeline.ops.subtitles import SubtitleStyle
from media_pipeline.ops.variants import Segment, plan_variants
from media_pipeline.ops.voice_mute import VoiceMuteParams, mute_voice

# A name shown to people and turned into file names: letters, digits, spaces, '.', '-', '_'.
OUTPUT_NAME = r"^\w[\w .-]{0,79}$"


class ProcessParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    variant_count: int = pydantic.Field(3, ge=1, le=10)
    target_duration: float = pydantic.Field(20, ge=2, le=600)
    srt: SrtText | None = None
    subtitle_style: SubtitleStyle = pydantic.Field(default_factory=SubtitleStyle)
    replace_audio: bool = pydantic.Field(
        False, description="use the 'audio' input as the soundtrack"
    )
    voice_mute: VoiceMuteParams | None = pydantic.Field(
        None, description="lower the source's speech (keep_percentage, fade_ms, detection params)"
    )
    voiceover: TtsParams | None = pydantic.Field(
        None, description="speak this text (the `tts` job's params) as the variants' soundtrack"
    )
    script_text: str | None = pydantic.Field(
        None,
        max_length=100_000,
        description="a voice-over script kept with the job, not voiced by it (a voice-over is "
        "added later to the chosen variants; `voiceover` voices a script now)",
    )
    context_text: str | None = pydantic.Field(
        None,
        max_length=4000,
        description="what the video is about: with Gemini configured (GEMINI_API_KEY) Gemini "
        "picks the segments with it; otherwise, or when Gemini fails, the local analysis does "
        "and the result's `analysis.context_note` says why the context was not used",
    )
    output_name: str | None = pydantic.Field(
        None,
        pattern=OUTPUT_NAME,
        description="base name of the variants: <output_name>_v<n> (files and result `name`)",
    )

    @pydantic.model_validator(mode="after")
    def one_soundtrack(self):
        if self.replace_audio and self.voiceover:
            raise ValueError("give either 'replace_audio' or 'voiceover', not both")
        return self


@dataclass(frozen=True)
class RenderedVariant:
    """One rendered variant in the job's temp dir: the video, its thumbnail, what it is cut from."""

    index: int  # 1-based
    video: Path
    thumbnail: Path
    duration: float  # probed from the output
    pieces: tuple[Piece, ...]

    @property
    def segments(self) -> list[dict]:
        return [{"start": p.start, "end": p.end} for p in self.pieces]


def source_preset(info: MediaInfo) -> Preset:
    """Variants keep the source's display size (rotation applied) and frame rate."""
    even = lambda n: max(2, int(n) // 2 * 2)  # noqa: E731 - x264 needs even dimensions
    fps = max(1, min(60, round(info.fps or 30)))
    return Preset(
        "source",
        "Source size",
        even(info.width),
        even(info.height),
        fps,
        21,
        10000,
        x264_preset="veryfast",
    )


def _subtitles(ctx, params: ProcessParams, preset: Preset) -> Subtitles | None:
    if not params.srt:
        return None
    return subtitles_to_burn(
        ctx, params.srt, width=preset.width, height=preset.height, style=params.subtitle_style
    )


def find_segments(
    ctx, source: Path, info: MediaInfo, *, total_duration: float, context_text: str | None = None
):
    """Analyse the source (job progress 2-25 %): (scored segments, the analysis result).
    With a `context_text` and Gemini configured, Gemini picks the segments; otherwise, or when
    it fails, the local analysis does (the result's `context_note` says why). Raises
    InvalidMediaError when nothing usable is found."""
    analysis, start, note = None, 2.0, None
    if context_text:
        reached = {"percent": start}
        try:
            analysis = gemini_analysis(
                ctx,
                source,
                info,
                target_duration=total_duration,
                context_text=context_text,
                span=(start, 25.0),
                reached=reached,
            )
            analysis["provider"] = "gemini"
        except GeminiError as exc:
            start, note = reached["percent"], f"the context was not used: {exc}"
    if analysis is None:
        # numpy and Pillow load here, not in every worker at start-up (jobtypes.analyze)
        from media_pipeline.ops.analysis import analyze_video

        analysis = analyze_video(
            source,
            target_duration=total_duration,
            info=info,
            on_progress=ctx.stage(start, 25, "analyze", "Finding the best segments"),
        )
        analysis.update(provider="local", context_note=note)
    segments = [Segment(s["start"], s["end"], s["score"] or 0.0) for s in analysis["segments"]]
    if not segments:
        raise InvalidMediaError("no usable segments: the source is dark, static or too short")
    return segments, analysis


def render_variants(
    ctx,
    variants: list[tuple[Piece, ...]],
    *,
    preset: Preset,
    soundtrack: str | None = None,
    subtitles: Subtitles | None = None,
    span: tuple[float, float] = (30.0, 98.0),
) -> list[RenderedVariant]:
    """Encode each variant once into the job's temp dir, with a thumbnail of its middle frame
    (written by the same ffmpeg run);
    the renders share the job's progress between span[0] and span[1] percent."""
    step = (span[1] - span[0]) / len(variants)
    rendered = []
    for n, pieces in enumerate(variants, start=1):
        output = Path(ctx.temp_dir) / f"variant_{n}.mp4"
        spec = RenderSpec(
            pieces=pieces,
            preset=preset,
            output=str(output),
            voiceover=soundtrack,
            audio_mode=AudioMode.REPLACE if soundtrack else AudioMode.KEEP,
            subtitles=subtitles,
            thumbnail=str(output.with_suffix(".jpg")),
        )
        report = ctx.stage(
            span[0] + step * (n - 1),
            span[0] + step * n,
            "render",
            f"Rendering variant {n} of {len(variants)}",
        )
        run_ffmpeg(build_render_args(spec), duration=spec.duration, on_progress=report, tracker=ctx)
        duration = probe_media(output, rotation=False).duration
        rendered.append(RenderedVariant(n, output, Path(spec.thumbnail), duration, pieces))
    return rendered


def estimate_process_cost(params: ProcessParams) -> Decimal:
    """What the job will cost (budgets): its voice-over's, when it voices one."""
    return estimate_tts_cost(params.voiceover) if params.voiceover else Decimal(0)


@register(
    "process",
    queue=RENDERS,
    params_schema=ProcessParams,
    max_attempts=2,
    timeout=7200,
    label="Clip variants",
    estimate_cost=estimate_process_cost,
)
def process_handler(ctx, params: ProcessParams) -> dict:
    ctx.progress(1, "probe", "Reading the source")
    source = ctx.input_path("source")
    info = require_video(probe_media(source), label="the source")
    soundtrack = soundtrack_of(ctx, params)
    segments, analysis = find_segments(
        ctx,
        source,
        info,
        total_duration=params.target_duration * params.variant_count,
        context_text=params.context_text,
    )
    muted = mute_source_voice(ctx, source, info, params.voice_mute) if params.voice_mute else None
    if muted and muted.output is not None:
        source = muted.output  # the variants are cut from the muted copy (video stream copied)
    plan = plan_variants(
        segments, count=params.variant_count, target_duration=params.target_duration
    )
    preset = source_preset(info)
    rendered = render_variants(
        ctx,
        [
            tuple(Piece(str(source), s.start, s.end, info.has_audio) for s in v.segments)
            for v in plan.variants
        ],
        preset=preset,
        soundtrack=soundtrack,
        subtitles=_subtitles(ctx, params, preset),
    )
    variants = [_save_variant(ctx, variant, params.output_name) for variant in rendered]
    ctx.progress(100, "done", "Variants ready")
    return {
        "variants": variants,
        **plan.reuse,  # reused_segments, shared_time, shared_seconds, note
        "analysis": {
            k: analysis.get(k)
            for k in ("provider", "context_note", "covers_target", "shortfall", "decode_warning")
        },
        "voice_mute": muted.as_dict() if muted else None,
        "width": preset.width,
        "height": preset.height,
    }


def mute_source_voice(
    ctx,
    source: Path,
    info: MediaInfo,
    params: VoiceMuteParams,
    *,
    span: tuple[float, float] = (25.0, 30.0),
    output_dir: Path | None = None,
):
    """Lower the speech of `source` (job progress between span[0] and span[1] percent): a muted
    copy (video stream copied) in `output_dir` (default: the job's temp dir), or none when the
    source has no audio (see VoiceMuteResult). Shared with the library's `project_generate`."""
    report = ctx.stage(span[0], span[1], "mute", "Detecting and muting speech")
    out = Path(output_dir or ctx.temp_dir)
    out.mkdir(parents=True, exist_ok=True)
    return mute_voice(source, out, params, info=info, on_progress=report, tracker=ctx)


def soundtrack_of(ctx, params) -> str | None:
    """The variants' soundtrack: the `audio` input (replace_audio), a voice-over spoken from
    `voiceover` (job progress 1-2 %, before the analysis), or none (the source's own sound).
    Shared with the `multi_video` job type."""
    if params.replace_audio:
        return str(ctx.input_path("audio"))
    if params.voiceover:
        return str(make_voiceover(ctx, params.voiceover, start=1, end=2).wav)
    return None


def variant_name(output_name: str | None, n: int) -> str:
    return f"{output_name}_v{n}" if output_name else f"variant_{n}"


def output_filename(name: str, suffix: str) -> str:
    """A file name from a validated `OUTPUT_NAME` (spaces become underscores)."""
    return get_valid_filename(f"{name}{suffix}")


def _save_variant(ctx, variant: RenderedVariant, output_name: str | None) -> dict:
    n = variant.index
    name = variant_name(output_name, n)
    filename = output_filename(name, ".mp4") if output_name else None
    thumbnail = output_filename(name, ".jpg") if output_name else None
    ctx.add_file(variant.video, label=f"variant_{n}", filename=filename)
    ctx.add_file(variant.thumbnail, label=f"thumbnail_{n}", filename=thumbnail)
    return {"index": n, "name": name, "duration": variant.duration, "segments": variant.segments}
