"""The `analyze` job type: scored segments of a source video for a target duration.

Providers: `local` (low-resolution decode and motion/variance/brightness scoring, always
available) and `gemini` (frames sent to Google Gemini; needs GEMINI_API_KEY). Without an
explicit provider, Gemini is used when it is configured and a context text is given. A Gemini
failure fails the job unless `fallback_to_local` is set; the result then says it fell back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pydantic
from django.conf import settings

from jobs.registry import register
from media_pipeline.ops import gemini
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.probe import probe_media, require_video

if TYPE_CHECKING:
    from media_pipeline.ops.analysis_scoring import AnalysisConfig

# Job percent at which each stage starts; decoding (or the model) is nearly all the work.
PROBE_END = 2.0
FRAMES_END = 20.0
WORK_END = 97.0


class AnalyzeThresholds(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    dark: float = pydantic.Field(0.08, ge=0, le=1, description="mean brightness (0..1) below")
    static: float = pydantic.Field(0.008, ge=0, le=1, description="motion (0..1) below")
    duplicate_distance: int = pydantic.Field(6, ge=0, le=64, description="pHash bits, at most")


class AnalyzeParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    target_duration: float = pydantic.Field(30.0, gt=0, le=3600)
    provider: Literal["local", "gemini"] | None = None
    context_text: str | None = pydantic.Field(None, max_length=4000)
    fallback_to_local: bool = False
    sample_fps: float = pydantic.Field(5.0, ge=0.5, le=30)
    window_overlap: float = pydantic.Field(0.3, ge=0, le=0.9)
    thresholds: AnalyzeThresholds = AnalyzeThresholds()

    def analysis_config(self) -> AnalysisConfig:
        # The local analysis (numpy, Pillow: ~18 MB) is imported when it runs, not by every
        # worker at start-up (they register every job type; a render never needs it).
        from media_pipeline.ops.analysis_scoring import AnalysisConfig

        return AnalysisConfig(
            sample_fps=self.sample_fps,
            window_overlap=self.window_overlap,
            dark_threshold=self.thresholds.dark,
            static_threshold=self.thresholds.static,
            duplicate_distance=self.thresholds.duplicate_distance,
        )


class GeminiNotConfigured(gemini.GeminiRejectedError):
    pass


def choose_provider(params: AnalyzeParams, api_key: str) -> str:
    if params.provider:
        return params.provider
    return "gemini" if api_key and params.context_text else "local"


@register("analyze", params_schema=AnalyzeParams, max_attempts=3, timeout=3600, label="Analyze")
def analyze_handler(ctx, params: AnalyzeParams) -> dict:
    source = ctx.input_path("source")
    ctx.progress(0, "probe", "Reading media information")
    info = probe_media(source)
    require_video(info)
    provider = choose_provider(params, settings.GEMINI_API_KEY)
    if provider == "local":
        return {
            "provider": "local",
            "fallback": False,
            **_run_local(ctx, source, info, params, start=PROBE_END),
        }
    reached = {"percent": PROBE_END}
    try:
        result = _run_gemini(ctx, source, info, params, reached)
    except gemini.GeminiError as exc:
        if not params.fallback_to_local:
            raise
        local = _run_local(ctx, source, info, params, start=reached["percent"])
        return {
            "provider": "local",
            "requested_provider": "gemini",
            "fallback": True,
            "fallback_reason": str(exc),
            **local,
        }
    return {"provider": "gemini", "fallback": False, **result}


def _run_local(ctx, source, info, params: AnalyzeParams, *, start: float) -> dict:
    from media_pipeline.ops.analysis import analyze_video  # see analysis_config

    on_progress = ctx.stage(start, WORK_END, "decode", "Decoding and scoring frames")
    result = analyze_video(
        source,
        target_duration=params.target_duration,
        config=params.analysis_config(),
        info=info,
        on_progress=on_progress,
    )
    ctx.progress(100, "done", f"{len(result['segments'])} segments selected")
    return result


def _run_gemini(ctx, source, info, params: AnalyzeParams, reached: dict) -> dict:
    result = gemini_analysis(
        ctx,
        source,
        info,
        target_duration=params.target_duration,
        context_text=params.context_text,
        span=(PROBE_END, WORK_END),
        reached=reached,
    )
    ctx.progress(100, "done", f"{len(result['segments'])} segments selected")
    return result


def gemini_analysis(
    ctx,
    source,
    info,
    *,
    target_duration: float,
    context_text: str | None,
    span: tuple[float, float],
    reached: dict,
) -> dict:
    """Segments chosen by Gemini from frames of `source` (job progress within `span`; the
    percent reached goes into `reached["percent"]`, so a fallback can go on from there), in the
    local analysis' result shape. Shared with the `process` job type (its `context_text`).
    GeminiError (GeminiNotConfigured without an API key) when it cannot be used."""
    if not settings.GEMINI_API_KEY:
        raise GeminiNotConfigured("the Gemini provider is not configured (GEMINI_API_KEY is empty)")
    config = gemini.GeminiConfig.from_settings()
    start, end = span
    frames_end = start + (end - start) * (FRAMES_END - PROBE_END) / (WORK_END - PROBE_END)
    frames_dir = ctx.temp_dir / "gemini-frames"
    frames_dir.mkdir(exist_ok=True)
    run_ffmpeg(
        gemini.frame_extraction_args(source, frames_dir, interval=config.frame_interval),
        duration=info.duration,
        on_progress=ctx.stage(start, frames_end, "frames", "Extracting frames"),
        tracker=ctx,
    )
    frames = gemini.extracted_frames(frames_dir)
    reached["percent"] = frames_end
    ctx.progress(frames_end, "gemini", f"Asking Gemini about {len(frames)} frames")

    def on_batch(number: int, total: int, frame_count: int) -> None:
        details = {"batch": number, "batches": total, "model": config.model}
        ctx.record_cost(
            service="gemini", operation="analyze", units=frame_count, unit_name="frames",
            details=details,
        )  # fmt: skip
        ctx.record_cost(
            service="gemini", operation="analyze", units=1, unit_name="requests", details=details
        )
        reached["percent"] = frames_end + (end - frames_end) * number / total
        ctx.progress(reached["percent"], "gemini", f"Gemini batch {number}/{total} analysed")

    segments = gemini.analyze_frames(
        frames,
        config=config,
        source_duration=info.duration,
        context_text=context_text,
        on_batch=on_batch,
    )
    result = gemini.select_segments_for_target(
        segments, target_duration=target_duration, source_duration=info.duration
    )
    return {
        "frames_sent": len(frames),
        "batches": len(gemini.batches(len(frames), config.batch_size)),
        "model": config.model,
        **result,
    }
