"""Library API: export presets, clip renders (one or many), their progress, and downloads."""

import mimetypes
from datetime import datetime
from uuid import UUID

from django.urls import reverse
from ninja import Router, Schema, Status
from pydantic import Field

from core.apierrors import ApiError
from core.auth import MEDIA_AUTH
from core.downloads import stream_stored_file
from core.errors import Invalid
from core.media_urls import signed_url
from core.strict import InputSchema
from jobs.schemas import ErrorOut, JobCreated
from media_pipeline.library import media as library
from media_pipeline.library.api.common import CREATE_ERRORS, ERRORS, owned, schema_of
from media_pipeline.library.media.render_options import RenderOptions
from media_pipeline.library.models import Clip, ExportPreset, RenderAudio, RenderSync

router = Router(tags=["render"])
MAX_BULK = 100


class ExportPresetOut(Schema):
    name: str
    label: str
    width: int
    height: int
    fps: int
    crf: int
    video_maxrate_kbps: int
    audio_bitrate_kbps: int
    x264_preset: str
    loudness_lufs: float
    true_peak_db: float
    is_default: bool = Field(description="the preset used when a render names none")
    karaoke: bool = Field(description="render option: light each caption word as it is spoken")
    sync: RenderSync = Field(description="render option: how long a render runs (see render)")
    audio_mode: RenderAudio = Field(description="render option: duck, keep or replace")
    duck_level: float = Field(description="render option: duck mode's gain of the clip's sound")


class RenderIn(InputSchema, RenderOptions):
    """The preset and the render options (each left out: the preset's; see docs/api.md)."""

    preset: str | None = Field(
        None, max_length=50, description="an export preset's name; default: the default preset"
    )


class BulkRenderIn(RenderIn):
    clip_ids: list[int] = Field(min_length=1, max_length=MAX_BULK)


class RenderCreated(JobCreated):
    export_id: int
    clip_id: int


class BulkRenderCreated(Schema):
    items: list[RenderCreated]


class RenderOptionsOut(Schema):
    """The options the render was asked with, the preset's filled in."""

    karaoke: bool
    sync: str
    audio_mode: str
    duck_level: float
    subtitle_style: dict = Field(description="the fields overriding the clip's subtitle settings")


class CueOutsideOut(Schema):
    index: int
    start: float
    end: float
    text: str
    outcome: str = Field(description="dropped (starts at or after the end) or cut (runs past it)")


class RenderProgressOut(Schema):
    export_id: int
    job_id: UUID | None
    status: str = Field(
        description="queued, rendering (also while a failed attempt waits to be retried), "
        "completed or failed (for good: no attempt follows)"
    )
    job_status: str | None
    percentage: float = Field(description="of the current attempt (each attempt starts at 0)")
    current_step: str = Field(description="retry_wait or requeued while a retry waits")
    current_step_label: str
    estimated_remaining: float | None = Field(description="seconds, from the job's rate")
    error: str = Field(description="why the render failed; empty unless status is failed")
    attempt: int = Field(description="the job's attempts so far (0 before the first starts)")
    max_attempts: int
    retry_at: datetime | None = Field(
        description="while a retry waits: when the next attempt may start"
    )
    last_attempt_error: str = Field(description="while a retry waits: why the last attempt failed")
    options: RenderOptionsOut
    duration: float | None = Field(description="the output's length in seconds, once rendered")
    cues_outside: list[CueOutsideOut] = Field(
        description="subtitle cues that did not fit in the output (once rendered)"
    )
    warnings: list[str] = Field(description="what the render could not do as asked")
    preset: str
    created_at: datetime
    completed_at: datetime | None
    download_url: str | None = Field(
        description="the clip's latest completed render (GET, Range; a signed link: no header "
        "needed), null while the clip has none"
    )
    voiceover: dict | None = Field(
        None,
        description="once the render is done, who spoke its voice-over: `provider`, "
        "`requested_provider`, `voice`, `fallback` and `notice` (the offline voice standing in "
        "for an unreachable provider, in words); null before, or without a voice-over",
    )


@router.get(
    "/export-presets",
    response={200: list[ExportPresetOut], 401: ErrorOut},
    summary="The active export presets (platform formats)",
)
def list_export_presets(request):
    default = library.export_preset_default()
    return [
        schema_of(ExportPresetOut, row, is_default=default is not None and row.id == default.id)
        for row in ExportPreset.objects.filter(is_active=True).order_by("name")
    ]


def _preset(name: str | None) -> ExportPreset:
    """The named active preset, or the default one when no name is given (422 when none)."""
    if name is not None:
        return library.export_preset_get(name=name)
    default = library.export_preset_default()
    if default is None:
        raise Invalid.field("preset", "there is no default export preset: name one in 'preset'")
    return default


def _created(started) -> list[RenderCreated]:
    return [
        RenderCreated(**JobCreated.for_job(job).dict(), export_id=export.id, clip_id=export.clip_id)
        for export, job in started
    ]


@router.post(
    "/clips/{clip_id}/render",
    response={202: RenderCreated, **CREATE_ERRORS},
    summary="Render a clip with its content (voice-over, subtitles) in an export preset",
)
def render_clip(request, clip_id: int, payload: RenderIn = None):
    payload = payload or RenderIn()
    clip = owned(Clip.objects, request.auth, id=clip_id)
    preset = _preset(payload.preset)
    started = library.clip_renders_start(
        owner=request.auth, clips=[clip], preset=preset, options=payload
    )
    return Status(202, _created(started)[0])


@router.post(
    "/clips/bulk-render",
    response={202: BulkRenderCreated, **CREATE_ERRORS},
    summary="Render several clips (one job each); nothing starts unless every clip can render",
)
def bulk_render(request, payload: BulkRenderIn):
    ids = list(dict.fromkeys(payload.clip_ids))
    found = Clip.objects.for_owner(request.auth).select_related("project").in_bulk(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApiError(404, "not_found", f"clips not found: {missing}", [{"clip_ids": missing}])
    preset = _preset(payload.preset)
    started = library.clip_renders_start(
        owner=request.auth, clips=[found[i] for i in ids], preset=preset, options=payload
    )
    return Status(202, BulkRenderCreated(items=_created(started)))


def _latest_export(request, clip_id: int, *, completed: bool):
    clip = owned(Clip.objects.select_related("project"), request.auth, id=clip_id)
    export = library.export_latest(clip=clip, completed=completed)
    if export is None:
        what = "completed render" if completed else "render"
        raise ApiError(404, "not_found", f"clip {clip_id} has no {what}")
    return clip, export


def _download_url(clip: Clip) -> str:
    path = reverse("api:download_clip", kwargs={"clip_id": clip.id})
    return signed_url(path, owner_id=clip.project.owner_id)


@router.get(
    "/clips/{clip_id}/render/progress",
    response={200: RenderProgressOut, **ERRORS},
    summary="Progress of the clip's latest render (numbers from its job)",
)
def render_progress(request, clip_id: int):
    clip, export = _latest_export(request, clip_id, completed=False)
    job = export.job
    status = export.status
    done = status == "completed"
    rendered = library.export_latest(clip=clip, completed=True) is not None
    failed = status == "failed"
    waiting = job is not None and not failed and job.status == "queued" and job.attempts > 0
    result = (job.result or {}) if job is not None and done else {}
    return RenderProgressOut(
        export_id=export.id,
        job_id=job.id if job else None,
        status=status,
        job_status=job.status if job else None,
        percentage=100.0 if done else (job.progress if job else 0.0),
        current_step=job.stage if job else "",
        current_step_label=job.stage_label if job else "",
        estimated_remaining=0.0 if done else (job.eta_seconds if job else None),
        error=job.error if job and failed else "",
        attempt=job.attempts if job else 0,
        max_attempts=job.max_attempts if job else 0,
        retry_at=job.run_after if waiting else None,
        last_attempt_error=job.error if waiting else "",
        options=_options_out(export),
        duration=result.get("duration"),
        cues_outside=result.get("cues_outside", []),
        warnings=result.get("warnings", []),
        preset=export.preset.name,
        created_at=export.created_at,
        download_url=_download_url(clip) if rendered else None,
        completed_at=export.completed_at,
        voiceover=(job.result or {}).get("voiceover") if job and done else None,
    )


def _options_out(export) -> RenderOptionsOut:
    """The export's stored options; an export made before they existed rendered as the
    defaults did then (loop, duck at 0.15, no karaoke)."""
    stored = export.options or {}
    return RenderOptionsOut(
        karaoke=stored.get("karaoke", False),
        sync=stored.get("sync", RenderSync.LOOP.value),
        audio_mode=stored.get("audio_mode", RenderAudio.DUCK.value),
        duck_level=stored.get("duck_level", 0.15),
        subtitle_style=stored.get("subtitle_style", {}),
    )


@router.get(
    "/clips/{clip_id}/download",
    auth=MEDIA_AUTH,
    response={200: None, 206: None, 416: None, **ERRORS},
    summary="Download the clip's latest completed render (supports Range)",
)
def download_clip(request, clip_id: int):
    clip, export = _latest_export(request, clip_id, completed=True)
    name = export.file.name
    return stream_stored_file(
        request,
        name=name,
        content_type=mimetypes.guess_type(name)[0] or "video/mp4",
        filename=f"clip-{clip.id}-{export.preset.name}.mp4",
    )
