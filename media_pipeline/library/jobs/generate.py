"""Library job types: `project_generate` (a project's clips, from an analysed source or from
chosen segments, optionally with the sources' speech lowered and a voice-over script for the
clips' content) and `clip_remove_audio`. Their handlers store what they make under library
names; when the job completes, the library rows adopt those files in the same transaction
(`media_pipeline.library.projects`: the types' on_change hooks), so job retention cleanup never
removes a clip's file and a failed job leaves nothing behind."""

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic
from django.conf import settings

from jobs.registry import register
from media_pipeline.jobtypes.process import (
    find_segments,
    mute_source_voice,
    render_variants,
    source_preset,
)
from media_pipeline.library import projects as library
from media_pipeline.library.models import library_name
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.probe import MediaInfo, probe_media, require_video
from media_pipeline.ops.render import Piece
from media_pipeline.ops.variants import allocate, plan_variants, reuse_report
from media_pipeline.ops.voice_mute import VoiceMuteParams

Order = Literal["random", "sequential", "weighted"]


class SpanParam(pydantic.BaseModel):
    """A span of a library segment: which job input it is cut from, and where."""

    model_config = pydantic.ConfigDict(extra="forbid")

    source: str = pydantic.Field(max_length=50, description="label of the job input")
    start: float = pydantic.Field(ge=0)
    end: float = pydantic.Field(gt=0)
    score: float = 0.0
    segment_id: int | None = None


class ProjectGenerateParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    project_id: int
    variant_count: int = pydantic.Field(3, ge=1, le=10)
    target_duration: float = pydantic.Field(20, ge=2, le=600)
    segments: list[SpanParam] | None = pydantic.Field(
        None, max_length=500, description="assemble from these spans instead of analysing 'source'"
    )
    order: Order = "sequential"
    seed: int = 0
    voice_mute: VoiceMuteParams | None = pydantic.Field(
        None, description="lower the sources' speech before cutting (as the `process` job does)"
    )
    tts_text: str | None = pydantic.Field(
        None,
        min_length=1,
        max_length=settings.TTS_MAX_CHARS,
        description="voice-over script: becomes each new clip's content TTS text, so rendering "
        "a clip voices it",
    )


@dataclass(frozen=True)
class Span:
    source: str
    start: float
    end: float
    score: float = 0.0
    segment_id: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_span_variants(
    spans: list[Span], *, count: int, target_duration: float, order: Order, seed: int
) -> list[list[Span]]:
    """Each variant takes spans until it reaches the target, in an order:
    sequential = the given order, each variant starting one span further (rotation);
    random = shuffled per variant; weighted = random, higher scores more likely to come first.
    Variants share no source time while unused time is left (`allocate`: a span may be split
    between variants); then they reuse it, in their own order (`reuse_report` says where)."""
    rng = random.Random(seed)
    indices = list(range(len(spans)))
    pools = []
    for i in range(count):
        if order == "sequential":
            shift = i % len(spans)
            pools.append(indices[shift:] + indices[:shift])
        elif order == "random":
            pools.append(rng.sample(indices, len(indices)))
        else:  # Efraimidis-Spirakis: key u**(1/w), so weight w wins proportionally more often
            keys = {n: rng.random() ** (1.0 / max(spans[n].score, 0.01)) for n in indices}
            pools.append(sorted(indices, key=keys.__getitem__, reverse=True))
    return allocate(spans, pools, target=target_duration)


def plan_reuse(pieces: list[list[Span]], *, material: str) -> dict:
    """The job result's reuse fields for variants cut from `pieces` (see `reuse_report`)."""
    return reuse_report(
        [[(s.source, s.start, s.end) for s in v] for v in pieces], material=material
    )


def _from_analysis(ctx, params: ProjectGenerateParams, mutes: dict):
    source = ctx.input_path("source")
    info = require_video(probe_media(source), label="the source")
    segments, _ = find_segments(
        ctx, source, info, total_duration=params.target_duration * params.variant_count
    )
    if params.voice_mute:
        source = _muted(ctx, source, info, params.voice_mute, span=(25.0, 30.0), report=mutes)
    plan = plan_variants(
        segments, count=params.variant_count, target_duration=params.target_duration
    )
    pieces = [
        tuple(Piece(str(source), s.start, s.end, info.has_audio) for s in v.segments)
        for v in plan.variants
    ]
    return pieces, [[None] * len(p) for p in pieces], source_preset(info), plan.reuse


def _muted(
    ctx, source: Path, info: MediaInfo, params: VoiceMuteParams, *, span, report, label="source"
) -> Path:
    """The source with its speech lowered (the source itself when it has no audio); what was
    done goes into `report` under `label`."""
    out = Path(ctx.temp_dir) / f"muted_{label}"
    muted = mute_source_voice(ctx, source, info, params, span=span, output_dir=out)
    report[label] = muted.as_dict()
    return muted.output if muted.output is not None else source


def _from_spans(ctx, params: ProjectGenerateParams, mutes: dict):
    spans = [Span(**s.model_dump()) for s in params.segments]
    sources: dict[str, tuple[Path, MediaInfo]] = {}
    labels = list(dict.fromkeys(s.source for s in spans))
    step = 23.0 / len(labels)
    for n, label in enumerate(labels):
        path = ctx.input_path(label)
        info = require_video(probe_media(path), label="a segment's source")
        if params.voice_mute:  # each source muted once, in its own directory
            span = (2 + step * n, 2 + step * (n + 1))
            path = _muted(ctx, path, info, params.voice_mute, span=span, report=mutes, label=label)
        sources[label] = (path, info)
    ctx.progress(25, "plan", "Choosing segments")
    plan = plan_span_variants(
        spans,
        count=params.variant_count,
        target_duration=params.target_duration,
        order=params.order,
        seed=params.seed,
    )
    pieces = [
        tuple(
            Piece(str(sources[s.source][0]), s.start, s.end, sources[s.source][1].has_audio)
            for s in v
        )
        for v in plan
    ]
    first_info = sources[spans[0].source][1]
    reuse = plan_reuse(plan, material="the chosen segments are")
    return pieces, [[s.segment_id for s in v] for v in plan], source_preset(first_info), reuse


@register(
    "project_generate",
    params_schema=ProjectGenerateParams,
    max_attempts=2,
    timeout=7200,
    label="Project clips",
    on_change=library.project_generation_changed,
)
def project_generate_handler(ctx, params: ProjectGenerateParams) -> dict:
    ctx.progress(1, "probe", "Reading the source")
    plan = _from_spans if params.segments else _from_analysis
    mutes: dict = {}
    pieces, segment_ids, preset, reuse = plan(ctx, params, mutes)
    rendered = render_variants(ctx, pieces, preset=preset, span=(30.0, 95.0))
    ctx.progress(96, "save", "Saving the clips")
    clips = [_stored_variant(ctx, r, ids) for r, ids in zip(rendered, segment_ids, strict=True)]
    ctx.check_cancelled()
    ctx.progress(100, "done", "Clips ready")
    return {
        "project_id": params.project_id,
        "clips": clips,  # the completion hook turns these into clip_ids
        "width": preset.width,
        "height": preset.height,
        "voice_mute": mutes or None,  # per source input: what muting its speech did
        # whether and where the variants share source time (numbers: the order of `clips`)
        **reuse,
    }


def _stored_variant(ctx, rendered, segment_ids) -> dict:
    """Store a variant's video and thumbnail under library names (adopted by its clip when the
    job completes); what the clip will say of it."""
    video, thumbnail = f"clip_{rendered.index}", f"clip_{rendered.index}_thumbnail"
    ctx.add_file(rendered.video, label=video, name=library_name("clip", ".mp4"))
    ctx.add_file(rendered.thumbnail, label=thumbnail, name=library_name("clip", ".jpg"))
    return {
        "video": video,
        "thumbnail": thumbnail,
        "duration": rendered.duration,
        # silent sources get a silent track in the render: the clip has sound only from them
        "has_audio": any(p.has_audio for p in rendered.pieces),
        "segments": [
            {"start": p.start, "end": p.end, **({"segment_id": sid} if sid else {})}
            for p, sid in zip(rendered.pieces, segment_ids, strict=True)
        ],
    }


class RemoveAudioParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    clip_id: int


def remove_audio_args(source: str, output: str) -> list[str]:
    """Keep the video stream as it is (no re-encode), drop every audio stream."""
    return ["-i", source, "-map", "0:v", "-an", "-c:v", "copy", "-movflags", "+faststart", output]


@register(
    "clip_remove_audio",
    params_schema=RemoveAudioParams,
    max_attempts=2,
    timeout=1800,
    label="Remove a clip's audio",
    on_change=library.clip_audio_removed,
)
def clip_remove_audio_handler(ctx, params: RemoveAudioParams) -> dict:
    ctx.progress(1, "probe", "Reading the clip")
    source = ctx.input_path("source")
    info = require_video(probe_media(source), label="the clip")
    output = Path(ctx.temp_dir) / "silent.mp4"
    report = ctx.stage(5, 90, "strip", "Removing the audio track")
    run_ffmpeg(
        remove_audio_args(str(source), str(output)),
        duration=info.duration,
        on_progress=report,
        tracker=ctx,
    )
    ctx.check_cancelled()
    ctx.add_file(output, label="video", name=library_name("clip", ".mp4"))
    ctx.progress(100, "done", "Audio removed")
    return {"clip_id": params.clip_id}
