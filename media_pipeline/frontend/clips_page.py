"""The Library page's clips (contract 4.2, 5.7, 5.9, 5.10; polling 2.4) and the Librarie page
(4.3, 5.8): read with content, rename/select, trash, content, render (one or many), export
presets, remove-audio, and all the user's clips.

Mapping rules (request -> the library services the v1 endpoints call):
- PATCH /library/clips/{id}: `variant_name` and, if sent, `is_selected` -> `clip_update`.
  PATCH .../select?selected= -> `clip_update(is_selected=...)`. DELETE -> `clip_trash` (the
  project's counts are recomputed).
- PUT .../content: `tts_text` -> tts_text, `srt_content` -> srt (validated, stored normalised),
  `subtitle_settings` -> the subtitle style (checked, stored exactly as sent); null is empty.
  The voice and TTS provider chosen through v1 stay as they are (the page cannot send them).
  Answers `{content}` as stored.
- POST .../render (multipart `preset_name`) and POST /library/clips/bulk-render (JSON
  `{clip_ids, preset_name}`): `preset_name` -> preset; an Export and a `clip_render` job per
  clip (`clip_renders_start`, all or nothing).
- GET /library/export-presets: the active presets; `is_default` marks the default one
  (`export_preset_default`), `display_name` is the label, bitrates are "<kbps>k".
- POST .../remove-audio (JSON content type, empty body): a `clip_remove_audio` job, waited for
  (EF_FRONTEND_SYNC_WAIT; 504 naming the job past that); answers `{video_path, job_id}` with the
  clip's new (silent) file.
- GET /library/all-clips: every clip outside the trash, newest first, with its project's name.
"""

from typing import Annotated

from django.db import transaction
from ninja import Form, Router, Schema, Status
from pydantic import Field

from core.asyncdb import db_call
from core.deprecation import old_path
from core.errors import DomainError, NotFound
from core.strict import InputSchema
from jobs.models import Job
from jobs.schemas import ErrorOut
from jobs.status import JobStatus
from media_pipeline.frontend.api import PREFIX
from media_pipeline.frontend.common import (
    job_error_text,
    owned_row,
    path_token,
    pk_of,
    str_id,
    wait_for_job,
)
from media_pipeline.frontend.library_shapes import (
    ClipDetail,
    ClipOut,
    ClipWithProjectList,
    ContentSaved,
    clip_detail,
    clip_out,
    clip_with_project_out,
    clips_with_exports,
    content_out,
)
from media_pipeline.library import media as library_media
from media_pipeline.library import projects as library
from media_pipeline.library.clips import clip_content_checked, clip_remove_audio_start
from media_pipeline.library.models import Clip, ClipContent, ExportPreset

router = Router(tags=["frontend: library clips"])
V1 = "/api/v1/library"
ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
START_ERRORS = {**ERRORS, 402: ErrorOut, 429: ErrorOut}


def _route(method: str, path: str, successor: str, **extra) -> dict:
    return old_path(method, PREFIX + path, successor, **extra)


def _clip(request, clip_id: str) -> Clip:
    clips = clips_with_exports(Clip.objects.select_related("content"))
    return owned_row(clips, request.auth, clip_id, what="clip")


class ClipPatch(InputSchema):
    # not nullable: a field left out changes nothing, a null one is a 422 naming it
    variant_name: str = Field(None, max_length=100)
    is_selected: bool = None


class ClipDeleted(Schema):
    deleted: bool
    clip_id: str


class ContentIn(InputSchema):
    tts_text: str | None = Field(max_length=100_000)
    srt_content: str | None = Field(max_length=500_000)
    subtitle_settings: dict | None


class RenderStarted(Schema):
    status: str
    clip_id: str
    job_id: str
    export_id: str
    preset_name: str


class RendersStarted(Schema):
    status: str
    renders: list[RenderStarted]


class BulkRenderIn(InputSchema):
    clip_ids: list[str] = Field(min_length=1, max_length=100)
    preset_name: str = Field(max_length=50)


class PresetOut(Schema):
    id: str
    name: str
    display_name: str
    is_default: bool
    width: int
    height: int
    fps: int
    video_bitrate: str
    crf: int
    audio_bitrate: str


class PresetList(Schema):
    presets: list[PresetOut]


class AudioRemoved(Schema):
    video_path: str
    job_id: str
    has_audio: bool


class JobFailed(DomainError):
    """The job a synchronous answer waited for failed (its error says why)."""

    code = "job_failed"


# --- the Library page -------------------------------------------------------------------------
# bulk-render first: its literal path must be tried before "/library/clips/{clip_id}".
@router.post(
    "/library/clips/bulk-render",
    response={202: RendersStarted, **START_ERRORS},
    summary="Render several clips in one preset (one job each; nothing starts unless all can)",
    **_route("POST", "/library/clips/bulk-render", f"POST {V1}/clips/bulk-render"),
)
def bulk_render(request, data: BulkRenderIn):
    ids = list(dict.fromkeys(data.clip_ids))
    wanted = {text: pk_of(text, what="clip") for text in ids}
    found = Clip.objects.for_owner(request.auth).in_bulk(set(wanted.values()))
    missing = [text for text, pk in wanted.items() if pk not in found]
    if missing:
        raise NotFound(f"clips not found: {missing}", [{"clip_ids": missing}])
    preset = library_media.export_preset_get(name=data.preset_name, field="preset_name")
    started = library_media.clip_renders_start(
        owner=request.auth, clips=[found[wanted[text]] for text in ids], preset=preset
    )
    return Status(202, RendersStarted(status="processing", renders=_renders(started, preset)))


def _renders(started, preset: ExportPreset) -> list[RenderStarted]:
    return [
        RenderStarted(
            status="processing",
            clip_id=str_id(export.clip_id),
            job_id=str_id(job.id),
            export_id=str_id(export.id),
            preset_name=preset.name,
        )
        for export, job in started
    ]


@router.get(
    "/library/clips/{clip_id}",
    response={200: ClipDetail, **ERRORS},
    summary="A clip and its content (null when it has none)",
    **_route("GET", "/library/clips/{clip_id}", f"GET {V1}/clips/{{clip_id}}"),
)
def get_clip(request, clip_id: str):
    return clip_detail(_clip(request, clip_id), owner_id=request.auth.pk)


@router.patch(
    "/library/clips/{clip_id}",
    response={200: ClipOut, **ERRORS},
    summary="Rename a clip (and select or unselect it when `is_selected` is sent)",
    **_route("PATCH", "/library/clips/{clip_id}", f"PATCH {V1}/clips/{{clip_id}}"),
)
def patch_clip(request, clip_id: str, data: ClipPatch):
    changes = data.dict(exclude_unset=True)
    clip = library.clip_update(clip=_clip(request, clip_id), **changes)
    return clip_out(clip, owner_id=request.auth.pk)


@router.patch(
    "/library/clips/{clip_id}/select",
    response={200: ClipOut, **ERRORS},
    summary="Select or unselect a clip (?selected=true|false)",
    **_route("PATCH", "/library/clips/{clip_id}/select", f"PATCH {V1}/clips/{{clip_id}}"),
)
def select_clip(request, clip_id: str, selected: bool):
    clip = library.clip_update(clip=_clip(request, clip_id), is_selected=selected)
    return clip_out(clip, owner_id=request.auth.pk)


@router.delete(
    "/library/clips/{clip_id}",
    response={200: ClipDeleted, **ERRORS},
    summary="Move a clip to the trash (the project's counts are recomputed)",
    **_route("DELETE", "/library/clips/{clip_id}", f"DELETE {V1}/clips/{{clip_id}}"),
)
def delete_clip(request, clip_id: str):
    clip = library.clip_trash(clip=_clip(request, clip_id))
    return ClipDeleted(deleted=True, clip_id=str_id(clip.id))


@router.put(
    "/library/clips/{clip_id}/content",
    response={200: ContentSaved, **ERRORS},
    summary="Save a clip's TTS text, SRT and subtitle settings (answers them as stored)",
    **_route("PUT", "/library/clips/{clip_id}/content", f"PUT {V1}/clips/{{clip_id}}/content"),
)
def put_content(request, clip_id: str, data: ContentIn):
    clip = _clip(request, clip_id)
    kept = ClipContent.objects.filter(clip=clip).first()  # its voice stays as chosen
    content = clip_content_checked(
        tts_text=data.tts_text or "",
        tts_provider=kept.tts_provider if kept else "",
        voice=kept.voice if kept else "",
        srt=data.srt_content or "",
        subtitle_settings=data.subtitle_settings,
        srt_field="srt_content",
    )
    return ContentSaved(content=content_out(library.clip_content_set(clip=clip, **content)))


@router.post(
    "/library/clips/{clip_id}/render",
    response={202: RenderStarted, **START_ERRORS},
    summary="Render a clip with its content in an export preset (multipart `preset_name`)",
    **_route("POST", "/library/clips/{clip_id}/render", f"POST {V1}/clips/{{clip_id}}/render"),
)
def render_clip(request, clip_id: str, preset_name: Annotated[str, Form(max_length=50)]):
    clip = _clip(request, clip_id)
    preset = library_media.export_preset_get(name=preset_name, field="preset_name")
    started = library_media.clip_renders_start(owner=request.auth, clips=[clip], preset=preset)
    return Status(202, _renders(started, preset)[0])


@router.get(
    "/library/export-presets",
    response={200: PresetList, 401: ErrorOut},
    summary="The active export presets; `is_default` marks the one used by default",
    **_route("GET", "/library/export-presets", f"GET {V1}/export-presets"),
)
def export_presets(request):
    default = library_media.export_preset_default()
    rows = ExportPreset.objects.filter(is_active=True).order_by("name")
    return PresetList(
        presets=[
            PresetOut(
                id=str_id(row.id),
                name=row.name,
                display_name=row.label,
                is_default=default is not None and row.id == default.id,
                width=row.width,
                height=row.height,
                fps=row.fps,
                video_bitrate=f"{row.video_maxrate_kbps}k",
                crf=row.crf,
                audio_bitrate=f"{row.audio_bitrate_kbps}k",
            )
            for row in rows
        ]
    )


# --- the Librarie page ------------------------------------------------------------------------
def _start_removal(user, clip_id: str) -> Job:
    clip = owned_row(Clip.objects, user, clip_id, what="clip")
    with transaction.atomic():
        return clip_remove_audio_start(owner=user, clip=clip)


def _removed(user, job: Job) -> AudioRemoved:
    if job.status != JobStatus.COMPLETED:
        raise JobFailed(
            f"the audio could not be removed: {job_error_text(job) or job.status}",
            [{"job_id": str_id(job.id)}],
        )
    clip = Clip.objects.get(id=job.params["clip_id"])
    return AudioRemoved(
        video_path=path_token(clip.file.name, owner_id=user.pk),
        job_id=str_id(job.id),
        has_audio=bool(clip.has_audio),
    )


@router.post(
    "/library/clips/{clip_id}/remove-audio",
    response={200: AudioRemoved, **START_ERRORS, 500: ErrorOut, 504: ErrorOut},
    summary="Remove a clip's audio and answer its new silent file (waits for the job)",
    **_route(
        "POST",
        "/library/clips/{clip_id}/remove-audio",
        f"POST {V1}/clips/{{clip_id}}/remove-audio",
    ),
)
async def remove_audio(request, clip_id: str):
    user = request.auth
    job = await db_call(_start_removal, user, clip_id)
    ended = await wait_for_job(job.id)
    return await db_call(_removed, user, ended)


def _all_clips(user) -> ClipWithProjectList:
    clips = clips_with_exports(
        Clip.objects.for_owner(user).alive().select_related("project", "content")
    ).order_by("-created_at", "-id")
    return ClipWithProjectList(clips=[clip_with_project_out(c, owner_id=user.pk) for c in clips])


@router.get(
    "/library/all-clips",
    response={200: ClipWithProjectList, 401: ErrorOut},
    summary="All your clips outside the trash, newest first, with their project's name",
    **_route("GET", "/library/all-clips", f"GET {V1}/clips"),
)
def all_clips(request):
    return _all_clips(request.auth)
