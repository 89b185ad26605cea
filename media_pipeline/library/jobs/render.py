"""Job types of the library's media: `clip_render` (a clip with its content, in an export preset,
into an Export row) and `segment_extract` (a segment's span cut into its own file).

Both store their result under a library name; when the job completes, the library row adopts
it in the same transaction (the types' on_change hooks in `media_pipeline.library.media`), after
re-checking that the row still exists and belongs to the job's owner. The library owns the file
from then on (job retention never deletes it); a failed job leaves nothing behind."""

from decimal import Decimal
from pathlib import Path

import ffmpeg
import pydantic

from jobs.queues import RENDERS
from jobs.registry import register
from media_pipeline.jobtypes.render_clip import (
    estimate_recipe_cost,
    render_clip_file,
    rendered_clip_result,
)
from media_pipeline.library import media as library
from media_pipeline.library.models import Export, library_name
from media_pipeline.ops.encoder import x264_params
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.probe import probe_media, require_video


class ClipRenderParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    export_id: int = pydantic.Field(ge=1)


class SegmentExtractParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    segment_id: int = pydantic.Field(ge=1)


def estimate_clip_render_cost(params: ClipRenderParams) -> Decimal:
    """Budgets: the clip's stored content decides (an ElevenLabs voice-over costs money)."""
    export = Export.objects.select_related("clip").filter(id=params.export_id).first()
    if export is None:
        return Decimal(0)
    try:
        return estimate_recipe_cost(library.clip_recipe(clip=export.clip, options=export.options))
    except pydantic.ValidationError:
        return Decimal(0)  # not renderable: the job fails with the reason, spending nothing


@register(
    "clip_render",
    queue=RENDERS,
    params_schema=ClipRenderParams,
    max_attempts=2,
    timeout=3600,
    label="Render a library clip",
    estimate_cost=estimate_clip_render_cost,
    on_change=library.export_render_changed,
)
def clip_render_handler(ctx, params: ClipRenderParams) -> dict:
    export = library.export_for_job(export_id=params.export_id, owner_id=ctx.owner_id)
    try:
        # read now: edits until the run count; the options were decided at the request
        recipe = library.clip_recipe(clip=export.clip, options=export.options)
    except pydantic.ValidationError as exc:
        raise InvalidMediaError(f"the clip's content cannot be rendered: {exc}") from None
    rendered = render_clip_file(
        ctx, recipe, preset=library.preset_from_row(export.preset), source=ctx.input_path("source")
    )
    result = rendered_clip_result(rendered)
    ctx.progress(97, "save", "Saving the export")
    ctx.add_file(rendered.output, label="export", name=library_name("export", ".mp4"))
    ctx.progress(100, "done", "Clip rendered")
    return {"export_id": export.id, "clip_id": export.clip_id, **result}


CUT_X264_PRESET = "veryfast"


def build_cut_args(source: str, output: str, *, start: float, end: float) -> list[str]:
    """[start, end] of `source`, re-encoded (frame-accurate cut) as a streamable H.264/AAC mp4.
    Only the default video and audio streams are kept (subtitle and data streams dropped)."""
    return (
        ffmpeg.input(source, ss=f"{start:.3f}", t=f"{end - start:.3f}")
        .output(
            output,
            vcodec="libx264",
            preset=CUT_X264_PRESET,
            crf=20,
            pix_fmt="yuv420p",
            acodec="aac",
            sn=None,
            dn=None,
            **{
                "b:a": "192k",
                "movflags": "+faststart",
                "x264-params": x264_params(CUT_X264_PRESET),
            },
        )
        .get_args()
    )


@register(
    "segment_extract",
    queue=RENDERS,
    params_schema=SegmentExtractParams,
    max_attempts=2,
    timeout=1800,
    label="Extract a segment",
    on_change=library.segment_extract_changed,
)
def segment_extract_handler(ctx, params: SegmentExtractParams) -> dict:
    segment = library.segment_for_job(segment_id=params.segment_id, owner_id=ctx.owner_id)
    start, end = segment.start, segment.end
    ctx.progress(2, "probe", "Reading the source")
    source = ctx.input_path("source")
    info = require_video(probe_media(source), label="the source video")
    if start >= info.duration:
        raise InvalidMediaError(
            f"the segment starts at {start} s, after the video ends ({info.duration} s)"
        )
    output = Path(ctx.temp_dir) / "segment.mp4"
    run_ffmpeg(
        build_cut_args(str(source), str(output), start=start, end=end),
        duration=min(end, info.duration) - start,
        on_progress=ctx.stage(5, 95, "cut", "Cutting the segment"),
        tracker=ctx,
    )
    cut = probe_media(output)
    ctx.progress(97, "save", "Saving the segment")
    ctx.add_file(output, label="segment", name=library_name("segment", ".mp4"))
    ctx.progress(100, "done", "Segment extracted")
    return {
        "segment_id": segment.id,
        "start": start,  # the span cut: the completion hook refuses it if the segment changed
        "end": end,
        "duration": cut.duration,
        "width": cut.width,
        "height": cut.height,
        "size_bytes": cut.size_bytes,
    }
