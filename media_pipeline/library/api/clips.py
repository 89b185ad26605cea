"""Library API: clips (triage, trash, content, files).

DELETE moves a clip to the trash (restorable); `?permanent=true` deletes it and its files for good.
A clip in the trash cannot be changed (PATCH, content, remove-audio answer 409): restore it first.
"""

from datetime import datetime
from typing import Any

from django.http import Http404
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from core.apierrors import ApiError
from core.auth import MEDIA_AUTH
from core.downloads import stream_stored_file
from core.media_urls import signed_url
from core.pagination import MAX_OFFSET, page_of
from core.strict import InputSchema
from jobs.schemas import JobCreated
from media_pipeline.library import projects as library
from media_pipeline.library.api.common import CREATE_ERRORS, ERRORS, owned, schema_of
from media_pipeline.library.clips import clip_content_checked, clip_remove_audio_start
from media_pipeline.library.media import clip_render_voiceover, clips_with_render_voiceover
from media_pipeline.library.models import Clip, Project
from media_pipeline.ops.subtitles import SubtitleStyle

router = Router(tags=["clips"])
FILE_RESPONSES = {200: None, 206: None, 416: None, **ERRORS}


class ClipContentOut(Schema):
    tts_text: str
    tts_provider: str
    voice: str
    srt: str
    subtitle_settings: dict[str, Any]
    updated_at: datetime


class ClipOut(Schema):
    id: int
    project_id: int
    variant_index: int
    variant_name: str
    duration: float | None
    segments: list[dict[str, Any]]
    is_selected: bool
    in_trash: bool
    deleted_at: datetime | None
    final_status: str
    created_at: datetime
    updated_at: datetime
    file_url: str | None = Field(
        description="the clip's video (GET, supports Range; a signed link: no header needed)"
    )
    thumbnail_url: str | None
    content: ClipContentOut | None
    render_voiceover: dict[str, Any] | None = Field(
        description="how the latest completed render spoke the voice-over: `provider` (who "
        "spoke), `requested_provider`, `voice`, `fallback` ({from, reason} when the offline "
        "voice stood in for an unreachable provider) and `notice` (that fallback in words); "
        "null without a voiced render"
    )

    @staticmethod
    def of(clip: Clip) -> "ClipOut":
        content = clip.content if hasattr(clip, "content") else None
        owner_id = clip.project.owner_id

        def url(name):  # signed: <video>/<img> send no header
            return signed_url(
                reverse(f"api:{name}", kwargs={"clip_id": clip.id}), owner_id=owner_id
            )

        return schema_of(
            ClipOut,
            clip,
            file_url=url("clip_file") if clip.file else None,
            thumbnail_url=url("clip_thumbnail") if clip.thumbnail else None,
            content=ClipContentOut.from_orm(content) if content else None,
            render_voiceover=clip_render_voiceover(clip),
        )


class ClipPage(Schema):
    total: int
    limit: int
    offset: int
    items: list[ClipOut]


class ClipFilters(Schema):
    project: int | None = None
    selected: bool | None = None
    include_deleted: bool = False
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ProjectClipFilters(Schema):
    include_deleted: bool = False
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ClipPatch(InputSchema):
    variant_name: str | None = Field(None, max_length=100)
    is_selected: bool | None = None


class BulkSelectIn(InputSchema):
    clip_ids: list[int] = Field(min_length=1, max_length=500)
    selected: bool


class ProjectCounts(Schema):
    id: int
    variants_count: int
    selected_count: int


class BulkSelectOut(Schema):
    updated: int
    projects: list[ProjectCounts]


class ClipDeleted(Schema):
    deleted: bool
    permanent: bool
    clip: ClipOut | None = Field(description="the clip in the trash (null when deleted for good)")


class ClipContentIn(InputSchema):
    tts_text: str = ""
    tts_provider: str = Field("", description="edge, elevenlabs or offline; empty: the default")
    voice: str = Field("", max_length=100)
    srt: str = Field("", max_length=500_000)
    subtitle_settings: SubtitleStyle | None = None


def _clips(request):
    clips = Clip.objects.for_owner(request.auth).select_related("content", "project")
    return clips_with_render_voiceover(clips)


def _clip(request, clip_id: int) -> Clip:
    clips = clips_with_render_voiceover(Clip.objects.select_related("content", "project"))
    return owned(clips, request.auth, id=clip_id)


def _page(queryset, filters) -> ClipPage:
    return ClipPage(
        **page_of(queryset, limit=filters.limit, offset=filters.offset, item=ClipOut.of)
    )


@router.get(
    "/projects/{project_id}/clips",
    response={200: ClipPage, **ERRORS},
    summary="A project's clips in variant order (the trash too with include_deleted=true)",
)
def project_clips(request, project_id: int, filters: Query[ProjectClipFilters]):
    project = owned(Project.objects, request.auth, id=project_id)
    clips = _clips(request).filter(project=project).order_by("variant_index", "id")
    if not filters.include_deleted:
        clips = clips.alive()
    return _page(clips, filters)


@router.get(
    "/clips", response={200: ClipPage, **ERRORS}, summary="All your clips, newest projects first"
)
def list_clips(request, filters: Query[ClipFilters]):
    clips = _clips(request).order_by("-project__created_at", "project_id", "variant_index", "id")
    if filters.project is not None:
        clips = clips.filter(project_id=filters.project)
    if filters.selected is not None:
        clips = clips.filter(is_selected=filters.selected)
    if not filters.include_deleted:
        clips = clips.alive()
    return _page(clips, filters)


@router.post(
    "/clips/bulk-select",
    response={200: BulkSelectOut, **ERRORS},
    summary="Select or unselect several clips (404 if one is not yours, 409 if one is trashed)",
)
def bulk_select(request, data: BulkSelectIn):
    wanted = set(data.clip_ids)
    clips = list(Clip.objects.for_owner(request.auth).filter(id__in=wanted))
    missing = sorted(wanted - {c.id for c in clips})
    if missing:
        raise ApiError(404, "not_found", f"clips not found: {missing}", [{"clip_ids": missing}])
    updated = library.clips_bulk_select(clips=clips, selected=data.selected)
    projects = Project.objects.filter(id__in={c.project_id for c in clips}).order_by("id")
    return BulkSelectOut(updated=updated, projects=list(projects))


@router.get("/clips/{clip_id}", response={200: ClipOut, **ERRORS}, summary="A clip with content")
def get_clip(request, clip_id: int):
    return ClipOut.of(_clip(request, clip_id))


@router.patch(
    "/clips/{clip_id}",
    response={200: ClipOut, **ERRORS},
    summary="Rename or (un)select a clip (409 in the trash)",
)
def patch_clip(request, clip_id: int, data: ClipPatch):
    clip = library.clip_update(clip=_clip(request, clip_id), **data.dict(exclude_unset=True))
    return ClipOut.of(clip)


@router.delete(
    "/clips/{clip_id}",
    response={200: ClipDeleted, **ERRORS},
    summary="Move a clip to the trash, or delete it with its files (?permanent=true)",
)
def delete_clip(request, clip_id: int, permanent: bool = False):
    clip = _clip(request, clip_id)
    if permanent:
        library.clip_delete_permanently(clip=clip)
        return ClipDeleted(deleted=True, permanent=True, clip=None)
    return ClipDeleted(
        deleted=True, permanent=False, clip=ClipOut.of(library.clip_trash(clip=clip))
    )


@router.post(
    "/clips/{clip_id}/restore",
    response={200: ClipOut, **ERRORS},
    summary="Take a clip out of the trash (409 when it is not in it)",
)
def restore_clip(request, clip_id: int):
    return ClipOut.of(library.clip_restore(clip=_clip(request, clip_id)))


@router.put(
    "/clips/{clip_id}/content",
    response={200: ClipOut, **ERRORS},
    summary="Set a clip's TTS text and voice, SRT and subtitle style (replaces all of it)",
    description="The SRT is validated strictly: 422 `invalid_srt` with cue-level findings in "
    "`details.errors` ({cue, line, code, message}). 409 for a clip in the trash.",
)
def put_content(request, clip_id: int, data: ClipContentIn):
    clip = _clip(request, clip_id)
    content = clip_content_checked(
        tts_text=data.tts_text,
        tts_provider=data.tts_provider,
        voice=data.voice,
        srt=data.srt,
        subtitle_settings=data.subtitle_settings.model_dump() if data.subtitle_settings else None,
    )
    library.clip_content_set(clip=clip, **content)
    return ClipOut.of(_clip(request, clip_id))


@router.post(
    "/clips/{clip_id}/content/copy-from/{src_id}",
    response={200: ClipOut, **ERRORS},
    summary="Copy another of your clips' content onto this clip",
)
def copy_content(request, clip_id: int, src_id: int):
    target = _clip(request, clip_id)
    source = _clip(request, src_id)
    library.clip_content_copy(target=target, source=source)
    return ClipOut.of(_clip(request, clip_id))


@router.post(
    "/clips/{clip_id}/remove-audio",
    response={202: JobCreated, **CREATE_ERRORS},
    summary="Strip the clip's audio track (a clip_remove_audio job; the video is not re-encoded)",
)
def remove_audio(request, clip_id: int):
    job = clip_remove_audio_start(owner=request.auth, clip=_clip(request, clip_id))
    return Status(202, JobCreated.for_job(job))


def _stream(request, field, what: str):
    if not field:
        raise Http404(f"the clip has no {what}")
    return stream_stored_file(request, name=field.name)


@router.get(
    "/clips/{clip_id}/file",
    auth=MEDIA_AUTH,
    response=FILE_RESPONSES,
    url_name="clip_file",
    summary="The clip's video (supports Range, for players)",
)
def clip_file(request, clip_id: int):
    return _stream(request, _clip(request, clip_id).file, "video file")


@router.get(
    "/clips/{clip_id}/thumbnail",
    auth=MEDIA_AUTH,
    response=FILE_RESPONSES,
    url_name="clip_thumbnail",
    summary="The clip's thumbnail (JPEG)",
)
def clip_thumbnail(request, clip_id: int):
    return _stream(request, _clip(request, clip_id).thumbnail, "thumbnail")
