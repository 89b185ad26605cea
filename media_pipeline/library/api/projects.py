"""Library API: projects and their generation.

A project's status is `draft` -> `generating` (a `project_generate` job runs) -> `ready_for_triage`
(clips stored) or `failed` (the job failed for good). Cancelling sets it back to `draft`, or to
`ready_for_triage` when clips of an earlier generation exist. A project cannot be deleted while it
is generating (409): cancel the generation first.
"""

import secrets
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db import transaction
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from core.apierrors import ApiError
from core.pagination import MAX_OFFSET, page_of
from core.strict import InputSchema
from jobs.schemas import JobCreated
from media_pipeline.library import media as library_media
from media_pipeline.library import projects as library
from media_pipeline.library.api.common import (
    CREATE_ERRORS,
    ERRORS,
    owned,
    require_one_video,
    start_job,
)
from media_pipeline.library.models import Project, Segment, SourceVideo
from media_pipeline.library.uploads import validate_media_upload

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


class ProgressOut(Schema):
    status: Project.Status
    job_id: UUID | None
    job_status: str | None
    percentage: float
    current_step: str
    estimated_remaining: float | None = Field(description="seconds")
    error: str


class GenerateForm(Schema):
    source_video_id: int | None = None
    variant_count: int = Field(3, ge=1, le=10)
    target_duration: float | None = Field(
        None, ge=2, le=600, description="seconds per clip; default: the project's"
    )


class FromSegmentsIn(InputSchema):
    segment_ids: list[int] = Field(min_length=1, max_length=200)
    variant_count: int = Field(3, ge=1, le=10)
    target_duration: float | None = Field(None, ge=2, le=600)
    order: Literal["random", "sequential", "weighted"] = Field(
        "sequential",
        description="sequential: the given order (each clip starts one segment further); "
        "random: shuffled per clip; weighted: random, higher scores first more often",
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


def _refuse_if_generating(project: Project) -> None:
    """Answer 409 before any upload is stored (the claim in the transaction is the real guard)."""
    if project.status == Project.Status.GENERATING:
        raise ApiError(409, "conflict", "the project is already generating clips")


def _start_generation(request, project: Project, *, params: dict, shared: dict, video=None):
    """Claim the project, create the job and link it, in one transaction."""
    with transaction.atomic():
        library.project_claim_generation(project=project)
        created = start_job(
            request, "project_generate", params={"project_id": project.id, **params},
            shared_inputs=shared,
        )  # fmt: skip
        library.project_attach_job(project=project, job_id=created.value.job_id, source_video=video)
    return created


def _source_video(request, file, source_video_id) -> tuple[SourceVideo, bool]:
    """(the source video, whether it was just created from the upload)."""
    require_one_video(file, source_video_id)
    if file is None:
        return owned(SourceVideo.objects, request.auth, id=source_video_id), False
    info = validate_media_upload(file, need_video=True)
    return library_media.source_video_create(owner=request.auth, upload=file, info=info), True


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
    _refuse_if_generating(project)
    video, created = _source_video(request, file, form.source_video_id)
    params = {
        "variant_count": form.variant_count,
        "target_duration": form.target_duration or project.target_duration,
    }
    try:
        return _start_generation(
            request, project, params=params, shared={"source": video.file.name}, video=video
        )
    except BaseException:
        if created:  # nothing was started: the upload must not stay behind
            library_media.source_video_delete(video=video)
        raise


@router.post(
    "/projects/{project_id}/generate-from-segments",
    response={202: JobCreated, **CREATE_ERRORS},
    summary="Generate the project's clips from your segments (a project_generate job)",
    description="Each clip is assembled from spans of the given segments (of any of your source "
    "videos) in the chosen `order`, up to `target_duration` seconds. 409 while generating.",
)
def generate_from_segments(request, project_id: int, data: FromSegmentsIn):
    project = _project(request, project_id)
    _refuse_if_generating(project)
    wanted = list(dict.fromkeys(data.segment_ids))
    found = (
        Segment.objects.for_owner(request.auth).filter(id__in=wanted).select_related("source_video")
    )
    by_id = {s.id: s for s in found}
    missing = [sid for sid in wanted if sid not in by_id]
    if missing:
        raise ApiError(
            404, "not_found", f"segments not found: {missing}", [{"segment_ids": missing}]
        )
    segments = [by_id[sid] for sid in wanted]
    spans = [
        {"source": f"source_{s.source_video_id}", "start": s.start, "end": s.end,
         "score": s.score or 0.0, "segment_id": s.id}
        for s in segments
    ]  # fmt: skip
    shared = {f"source_{s.source_video_id}": s.source_video.file.name for s in segments}
    params = {
        "variant_count": data.variant_count,
        "target_duration": data.target_duration or project.target_duration,
        "segments": spans,
        "order": data.order,
        "seed": secrets.randbelow(2**31),  # kept in the params: a retry makes the same clips
    }
    return _start_generation(request, project, params=params, shared=shared)


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
