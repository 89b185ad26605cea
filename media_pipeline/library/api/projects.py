"""Library API: projects and their generation.

A project's status is `draft` -> `generating` (a `project_generate` job runs) -> `ready_for_triage`
(clips stored) or `failed` (the job failed for good). Cancelling sets it back to `draft`, or to
`ready_for_triage` when clips of an earlier generation exist. A project cannot be deleted while it
is generating (409): cancel the generation first.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.conf import settings
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from core.pagination import MAX_OFFSET, page_of
from core.strict import InputSchema
from jobs.schemas import JobCreated
from media_pipeline.library import generation
from media_pipeline.library import projects as library
from media_pipeline.library.api.common import (
    CREATE_ERRORS,
    ERRORS,
    owned,
    require_one_video,
)
from media_pipeline.library.models import Project, SourceVideo
from media_pipeline.ops.voice_mute import VoiceMuteParams

router = Router(tags=["projects"])


class ProjectIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    target_duration: float = Field(20, ge=2, le=600)
    context_text: str = Field("", max_length=20000)


class ProjectPatch(InputSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    target_duration: float | None = Field(None, ge=2, le=600)
    context_text: str | None = Field(None, max_length=20000)


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    status: Project.Status
    target_duration: float
    context_text: str
    source_video_id: int | None
    variants_count: int
    selected_count: int
    exported_count: int
    current_job_id: UUID | None
    error: str
    created_at: datetime
    updated_at: datetime


class ProjectPage(Schema):
    total: int
    limit: int
    offset: int
    items: list[ProjectOut]


class ProjectFilters(Schema):
    status: Project.Status | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ProjectDeleted(Schema):
    deleted: bool
    clips_deleted: int


class SharedTimeOut(Schema):
    variants: list[int] = Field(description="the generation's variant numbers (1 = its first clip)")
    clip_ids: list[int] = Field(default_factory=list, description="the clips of those variants")
    source: str = Field(description="the job input: `source`, or `source_<source video id>`")
    start: float
    end: float


class ReuseOut(Schema):
    reused_segments: bool = Field(description="whether any source time is in several clips")
    shared_time: list[SharedTimeOut]
    shared_seconds: float = Field(description="source time in more than one clip, seconds")
    note: str = Field(description="the reuse in words; empty without reuse")


class ProgressOut(Schema):
    status: Project.Status
    job_id: UUID | None
    job_status: str | None
    percentage: float
    current_step: str
    estimated_remaining: float | None = Field(description="seconds")
    error: str
    reuse: ReuseOut | None = Field(
        description="whether and where the clips of the project's generation share source time, "
        "once it completed (null while it runs, after it failed, or before any)"
    )


class GenerateForm(Schema):
    source_video_id: int | None = None
    variant_count: int = Field(3, ge=1, le=10)
    target_duration: float | None = Field(
        None, ge=2, le=600, description="seconds per clip; default: the project's"
    )


class FromSegmentsIn(InputSchema):
    segment_ids: list[int] | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="default: the segments assigned to the project (assign-segments), in order",
    )
    variant_count: int = Field(3, ge=1, le=10)
    target_duration: float | None = Field(None, ge=2, le=600)
    order: Literal["random", "sequential", "weighted"] = Field(
        "sequential",
        description="sequential: the given order (each clip starts one segment further); "
        "random: shuffled per clip; weighted: random, higher scores first more often",
    )
    voice_mute: VoiceMuteParams | None = Field(
        None, description="lower the sources' speech first (keep_percentage, fade_ms, detection)"
    )
    tts_text: str | None = Field(
        None,
        min_length=1,
        max_length=settings.TTS_MAX_CHARS,
        description="voice-over script: each new clip's content TTS text (its render voices it)",
    )


def _project(request, project_id: int) -> Project:
    return owned(Project.objects, request.auth, id=project_id)


@router.post("/projects", response={201: ProjectOut, **ERRORS}, summary="Create a project")
def create_project(request, data: ProjectIn):
    return Status(201, library.project_create(owner=request.auth, **data.dict()))


@router.get(
    "/projects", response={200: ProjectPage, **ERRORS}, summary="Your projects, newest first"
)
def list_projects(request, filters: Query[ProjectFilters]):
    mine = Project.objects.for_owner(request.auth)
    if filters.status:
        mine = mine.filter(status=filters.status)
    mine = mine.order_by("-created_at", "-id")
    return ProjectPage(**page_of(mine, limit=filters.limit, offset=filters.offset))


@router.get("/projects/{project_id}", response={200: ProjectOut, **ERRORS}, summary="A project")
def get_project(request, project_id: int):
    return _project(request, project_id)


@router.patch(
    "/projects/{project_id}",
    response={200: ProjectOut, **ERRORS},
    summary="Change a project's name, description, target duration or context",
)
def patch_project(request, project_id: int, data: ProjectPatch):
    return library.project_update(
        project=_project(request, project_id), **data.dict(exclude_unset=True)
    )


@router.delete(
    "/projects/{project_id}",
    response={200: ProjectDeleted, **ERRORS},
    summary="Delete a project, its clips and their files (409 while generating)",
)
def delete_project(request, project_id: int):
    clips = library.project_delete(project=owned(Project.objects, request.auth, id=project_id))
    return ProjectDeleted(deleted=True, clips_deleted=clips)


@router.post(
    "/projects/{project_id}/generate",
    response={202: JobCreated, **CREATE_ERRORS},
    summary="Generate the project's clips from a video (a project_generate job)",
    description="Multipart: an upload `file` (stored as a new source video of yours) or "
    "`source_video_id`, exactly one; `variant_count` 1-10; `target_duration` seconds per clip. "
    "The project goes to `generating`; 409 when it already is.",
)
def generate(request, project_id: int, form: Form[GenerateForm], file: File[UploadedFile] = None):
    project = _project(request, project_id)
    require_one_video(file, form.source_video_id)
    video = None
    if form.source_video_id is not None:
        video = owned(SourceVideo.objects, request.auth, id=form.source_video_id)
    job = generation.project_generate_from_video(
        owner=request.auth,
        project=project,
        variant_count=form.variant_count,
        target_duration=form.target_duration,
        upload=file,
        source_video=video,
    )
    return Status(202, JobCreated.for_job(job))


@router.post(
    "/projects/{project_id}/generate-from-segments",
    response={202: JobCreated, **CREATE_ERRORS},
    summary="Generate the project's clips from your segments (a project_generate job)",
    description="Each clip is assembled from spans of the given segments (of any of your source "
    "videos; default: those assigned to the project) in the chosen `order`, up to "
    "`target_duration` seconds; `voice_mute` lowers the sources' speech first; `tts_text` "
    "becomes the new clips' voice-over script. 409 while generating.",
)
def generate_from_segments(request, project_id: int, data: FromSegmentsIn):
    job = generation.project_generate_from_segments(
        owner=request.auth,
        project=_project(request, project_id),
        segment_ids=data.segment_ids,
        variant_count=data.variant_count,
        target_duration=data.target_duration,
        order=data.order,
        voice_mute=data.voice_mute,
        tts_text=data.tts_text,
    )
    return Status(202, JobCreated.for_job(job))


@router.post(
    "/projects/{project_id}/cancel",
    response={200: ProjectOut, **ERRORS},
    summary="Cancel the running generation (409 when none runs)",
    description="The job is cancelled; the project goes back to `draft`, or `ready_for_triage` "
    "when it has clips from an earlier generation.",
)
def cancel_generation(request, project_id: int):
    return library.project_cancel_generation(project=_project(request, project_id))


@router.get(
    "/projects/{project_id}/progress",
    response={200: ProgressOut, **ERRORS},
    summary="Progress of the project's generation (from its current job)",
)
def project_progress(request, project_id: int):
    project = _project(request, project_id)
    return library.project_progress(project)
