"""Library API: export presets, clip renders (one or many), their progress, and downloads."""

import mimetypes
from datetime import datetime
from uuid import UUID

from django.urls import reverse
from ninja import Router, Schema, Status
from pydantic import Field, StrictInt

from core.apierrors import ApiError
from core.auth import MEDIA_AUTH
from core.downloads import stream_stored_file
from core.errors import Invalid
from core.media_urls import signed_url
from core.strict import InputSchema
from jobs.queues import PRIORITY_HELP
from jobs.schemas import ErrorOut, JobCreated
from media_pipeline.library import media as library
from media_pipeline.library.api.common import CREATE_ERRORS, ERRORS, owned, schema_of
from media_pipeline.library.models import Clip, ExportPreset

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


class RenderIn(InputSchema):
    preset: str | None = Field(
        None, max_length=50, description="an export preset's name; default: the default preset"
    )
    priority: StrictInt | None = Field(None, description=PRIORITY_HELP)


class BulkRenderIn(RenderIn):
    clip_ids: list[int] = Field(min_length=1, max_length=MAX_BULK)


class RenderCreated(JobCreated):
    export_id: int
    clip_id: int


class BulkRenderCreated(Schema):
    items: list[RenderCreated]


class RenderProgressOut(Schema):
    export_id: int
    job_id: UUID | None
    status: str = Field(description="queued, rendering, completed or failed")
    job_status: str | None
    percentage: float
    current_step: str
    current_step_label: str
    estimated_remaining: float | None = Field(description="seconds, from the job's rate")
    error: str
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
        owner=request.auth, clips=[clip], preset=preset, priority=payload.priority
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
        owner=request.auth, clips=[found[i] for i in ids], preset=preset, priority=payload.priority
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
    return RenderProgressOut(
        export_id=export.id,
        job_id=job.id if job else None,
        status=status,
        job_status=job.status if job else None,
        percentage=100.0 if done else (job.progress if job else 0.0),
        current_step=job.stage if job else "",
        current_step_label=job.stage_label if job else "",
        estimated_remaining=0.0 if done else (job.eta_seconds if job else None),
        error=job.error if job else "",
        preset=export.preset.name,
        created_at=export.created_at,
        download_url=_download_url(clip) if rendered else None,
        completed_at=export.completed_at,
        voiceover=(job.result or {}).get("voiceover") if job and done else None,
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
