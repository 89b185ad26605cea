"""The `multi_video` job type: a main video with up to three secondary videos inserted where the
subtitles mention their keywords, subtitles burned in."""

from pathlib import Path

import pydantic

from jobs.registry import register
from media_pipeline.jobtypes._shared import store_video_with_thumbnail, subtitles_to_burn
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.keyword_match import Cue, find_inserts
from media_pipeline.ops.multi_video import Secondary, build_multi_video_args
from media_pipeline.ops.probe import probe_media, require_video
from media_pipeline.ops.srt_validation import SrtText, validate_srt
from media_pipeline.ops.subtitles import SubtitleStyle


class MultiVideoParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    srt: SrtText
    keywords: list[list[pydantic.constr(min_length=1, max_length=80)]] = pydantic.Field(
        min_length=1,
        max_length=3,
        description="one keyword list per secondary video (secondary_0..2)",
    )
    match_threshold: float = pydantic.Field(80, ge=50, le=100)
    subtitle_style: SubtitleStyle = pydantic.Field(default_factory=SubtitleStyle)


@register(
    "multi_video",
    params_schema=MultiVideoParams,
    max_attempts=2,
    timeout=3600,
    label="Multi-video edit",
)
def multi_video_handler(ctx, params: MultiVideoParams) -> dict:
    ctx.progress(1, "probe", "Reading the videos")
    main = ctx.input_path("main")
    info = require_video(probe_media(main), label="input 'main'")
    secondaries = []
    for i in range(len(params.keywords)):
        path = ctx.input_path(f"secondary_{i}")
        secondaries.append(
            Secondary(
                str(path),
                require_video(probe_media(path), label=f"input 'secondary_{i}'").duration,
            )
        )
    cues = [
        Cue(c.index, c.start.total_seconds(), c.end.total_seconds(), c.content)
        for c in validate_srt(params.srt).cues
    ]
    inserts = [
        i
        for i in find_inserts(cues, params.keywords, threshold=params.match_threshold)
        if i.start < info.duration
    ]
    width, height = info.width // 2 * 2, info.height // 2 * 2
    subtitles = subtitles_to_burn(
        ctx, params.srt, width=width, height=height, style=params.subtitle_style
    )
    output = Path(ctx.temp_dir) / "multi_video.mp4"
    args = build_multi_video_args(
        main=str(main),
        size=(width, height),
        secondaries=secondaries,
        inserts=inserts,
        output=str(output),
        subtitles=subtitles,
        main_has_audio=info.has_audio,
    )
    run_ffmpeg(
        args,
        duration=info.duration,
        on_progress=ctx.stage(5, 95, "render", "Rendering"),
        tracker=ctx,
    )
    store_video_with_thumbnail(ctx, output, duration=info.duration)
    ctx.progress(100, "done", "Edit ready")
    return {
        "inserts": [
            {
                "secondary": i.source,
                "keyword": i.keyword,
                "cue": i.cue,
                "start": i.start,
                "duration": i.duration,
            }
            for i in inserts
        ],
        "duration": probe_media(output).duration,
    }
