"""The `multi_video` job type: a main video with up to three secondary videos inserted where the
subtitles mention their keywords, subtitles burned in."""

from pathlib import Path

import pydantic

from jobs.registry import register
from media_pipeline.jobtypes._shared import store_video_with_thumbnail, subtitles_to_burn
from media_pipeline.jobtypes.process import (
    OUTPUT_NAME,
    estimate_process_cost,
    mute_source_voice,
    output_filename,
    soundtrack_of,
)
from media_pipeline.jobtypes.tts import TtsParams
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.keyword_match import Cue, find_inserts
from media_pipeline.ops.multi_video import Secondary, build_multi_video_args
from media_pipeline.ops.probe import probe_media, require_video
from media_pipeline.ops.srt_validation import SrtText, validate_srt
from media_pipeline.ops.subtitles import SubtitleStyle
from media_pipeline.ops.voice_mute import VoiceMuteParams


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
    insert_duration: float | None = pydantic.Field(
        None, ge=0.5, le=5, description="seconds each insert lasts (default: its cue's length)"
    )
    max_duration: float | None = pydantic.Field(
        None, ge=1, le=3600, description="the edit stops there (seconds; default: the main video)"
    )
    replace_audio: bool = pydantic.Field(
        False, description="use the 'audio' input as the soundtrack"
    )
    voiceover: TtsParams | None = pydantic.Field(
        None, description="speak this text (the `tts` job's params) as the soundtrack"
    )
    voice_mute: VoiceMuteParams | None = pydantic.Field(
        None, description="lower the main video's speech first (as the `process` job does)"
    )
    script_text: str | None = pydantic.Field(
        None,
        max_length=100_000,
        description="a voice-over script kept with the job, not voiced by it",
    )
    output_name: str | None = pydantic.Field(
        None, pattern=OUTPUT_NAME, description="base name of the edit's file"
    )

    @pydantic.model_validator(mode="after")
    def one_soundtrack(self):
        if self.replace_audio and self.voiceover:
            raise ValueError("give either 'replace_audio' or 'voiceover', not both")
        return self


@register(
    "multi_video",
    params_schema=MultiVideoParams,
    max_attempts=2,
    timeout=3600,
    label="Multi-video edit",
    estimate_cost=estimate_process_cost,
)
def multi_video_handler(ctx, params: MultiVideoParams) -> dict:
    ctx.progress(1, "probe", "Reading the videos")
    main = ctx.input_path("main")
    info = require_video(probe_media(main), label="input 'main'")
    soundtrack = soundtrack_of(ctx, params)
    muted = (
        mute_source_voice(ctx, main, info, params.voice_mute, span=(2, 5))
        if params.voice_mute
        else None
    )
    if muted and muted.output is not None:
        main = muted.output  # video stream copied: same frames, quieter speech
    duration = min(info.duration, params.max_duration or info.duration)
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
        for i in find_inserts(
            cues, params.keywords, threshold=params.match_threshold, duration=params.insert_duration
        )
        if i.start < duration
    ]
    width, height = info.width // 2 * 2, info.height // 2 * 2
    subtitles = subtitles_to_burn(
        ctx, params.srt, width=width, height=height, style=params.subtitle_style
    )
    name = output_filename(params.output_name, ".mp4") if params.output_name else None
    output = Path(ctx.temp_dir) / (name or "multi_video.mp4")
    args = build_multi_video_args(
        main=str(main),
        size=(width, height),
        secondaries=secondaries,
        inserts=inserts,
        output=str(output),
        subtitles=subtitles,
        main_has_audio=info.has_audio,
        soundtrack=soundtrack,
        duration=duration if duration < info.duration else None,
    )
    run_ffmpeg(
        args,
        duration=duration,
        on_progress=ctx.stage(5, 95, "render", "Rendering"),
        tracker=ctx,
    )
    store_video_with_thumbnail(ctx, output, duration=duration)
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
        "name": params.output_name or "multi_video",
        "voice_mute": muted.as_dict() if muted else None,
    }
