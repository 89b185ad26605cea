"""The `process` job type: 1–10 clip variants of a target duration from the analysed segments of
one source, each encoded once (with optional subtitles and audio track) plus a thumbnail."""

from pathlib import Path

import pydantic

from jobs.registry import register

from ..analysis import analyze_video
from ..errors import InvalidMediaError
from ..ffmpeg_run import run_ffmpeg
from ..presets import Preset
from ..probe import probe_media, require_video
from ..render import (
    AudioMode,
    Piece,
    RenderSpec,
    Subtitles,
    build_render_args,
)
from ..srt_validation import SrtText
from ..subtitles import SubtitleStyle
from ..variants import Segment, plan_variants
from ..voice_detect import detect_voice
from ..voice_mute import VoiceMuteParams, mute_speech
from ._shared import store_video_with_thumbnail, subtitles_to_burn


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


def source_preset(info: dict) -> Preset:
    """Variants keep the source's display size (rotation applied) and frame rate."""
    even = lambda n: max(2, int(n) // 2 * 2)  # noqa: E731 - x264 needs even dimensions
    fps = max(1, min(60, round(info["fps"] or 30)))
    return Preset(
        "source",
        "Source size",
        even(info["width"]),
        even(info["height"]),
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


@register(
    "process", params_schema=ProcessParams, max_attempts=2, timeout=7200, label="Clip variants"
)
def process_handler(ctx, params: ProcessParams) -> dict:
    ctx.progress(1, "probe", "Reading the source")
    source = ctx.input_path("source")
    info = require_video(probe_media(source), label="the source")
    soundtrack = str(ctx.input_path("audio")) if params.replace_audio else None
    analysis = analyze_video(
        source,
        target_duration=params.target_duration * params.variant_count,
        info=info,
        on_progress=ctx.stage(2, 25, "analyze", "Finding the best segments"),
    )
    muted = _mute_voice(ctx, source, info, params.voice_mute) if params.voice_mute else None
    if muted and muted.output is not None:
        source = muted.output  # the variants are cut from the muted copy (video stream copied)
    segments = [Segment(s["start"], s["end"], s["score"] or 0.0) for s in analysis["segments"]]
    if not segments:
        raise InvalidMediaError("no usable segments: the source is dark, static or too short")
    plan = plan_variants(
        segments, count=params.variant_count, target_duration=params.target_duration
    )
    preset = source_preset(info)
    subtitles = _subtitles(ctx, params, preset)
    span = 68.0 / len(plan.variants)
    variants = []
    for n, variant in enumerate(plan.variants, start=1):
        pieces = tuple(
            Piece(str(source), s.start, s.end, info["has_audio"]) for s in variant.segments
        )
        output = Path(ctx.temp_dir) / f"variant_{n}.mp4"
        spec = RenderSpec(
            pieces=pieces,
            preset=preset,
            output=str(output),
            voiceover=soundtrack,
            audio_mode=AudioMode.REPLACE if soundtrack else AudioMode.KEEP,
            subtitles=subtitles,
        )
        report = ctx.stage(
            30 + span * (n - 1),
            30 + span * n,
            "render",
            f"Rendering variant {n} of {len(plan.variants)}",
        )
        run_ffmpeg(build_render_args(spec), duration=spec.duration, on_progress=report, tracker=ctx)
        variants.append(_save_variant(ctx, n, spec, output))
    ctx.progress(100, "done", "Variants ready")
    return {
        "variants": variants,
        "reused_segments": plan.reused_segments,
        "note": "the source is too short for disjoint variants: some segments are reused"
        if plan.reused_segments
        else "",
        "analysis": {k: analysis.get(k) for k in ("covers_target", "shortfall", "decode_warning")},
        "voice_mute": muted.as_dict() if muted else None,
        "width": preset.width,
        "height": preset.height,
    }


def _mute_voice(ctx, source: Path, info: dict, params: VoiceMuteParams):
    detect = ctx.stage(25, 28, "detect", "Detecting speech")
    detection = detect_voice(source, params, info=info, on_progress=detect)
    report = ctx.stage(28, 30, "mute", "Muting speech")
    return mute_speech(
        source, ctx.temp_dir, detection, params, info=info, on_progress=report, tracker=ctx
    )


def _save_variant(ctx, n: int, spec: RenderSpec, output: Path) -> dict:
    store_video_with_thumbnail(
        ctx, output, duration=spec.duration, label=f"variant_{n}", thumbnail_label=f"thumbnail_{n}"
    )
    return {
        "index": n,
        "duration": probe_media(output)["duration"],
        "segments": [{"start": p.start, "end": p.end} for p in spec.pieces],
    }
