"""The Library page's projects (contract 4.2, 5.5, 5.6; polling 2.3): list, create, read,
reset, delete, clips, generation (from a video or from the assigned segments), progress, cancel.

Mapping rules (request -> the library services the v1 endpoints call):
- POST /library/projects: the JSON body as it is (`target_duration` integer seconds).
- PATCH /library/projects/{id} `{status: "draft"}`: `project_reset` (only a project without
  live clips that is neither draft nor generating; 409 otherwise); any other status is a 422
  naming `status`. Answers the bare Project.
- POST .../generate (multipart): `video` (an upload: becomes a library source video) or
  `video_path` (a path token this API handed out for one of the user's source videos, clips
  or renders; a server path or another user's file is a 422 naming `video_path`), exactly one;
  `variant_count` 1-10; the clips last the project's `target_duration`.
- POST .../generate-from-segments (JSON): the project's assigned segments (422 when none);
  `selection_mode` -> `order`; `target_duration`; `mute_source_voice` true -> the sources'
  speech lowered with the default voice-mute params, false -> untouched; `tts_text` with
  `generate_tts` true -> each new clip's voice-over script (its content TTS text, voiced when
  the clip is rendered). `tts_text` without `generate_tts` true, or `generate_tts` true without
  a script, is a 422 naming the field: a script is never dropped.
- GET .../progress: the generation job's numbers as integers (`percentage` 0-100, 100 once the
  project is ready; `estimated_remaining` seconds while it generates, else null) and
  `current_step` its stage label (null when there is none).
"""

from typing import Annotated, Literal

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from core.deprecation import old_path
from core.errors import Invalid
from core.strict import InputSchema
from jobs.schemas import ErrorOut
from media_pipeline.frontend.api import PREFIX
from media_pipeline.frontend.common import owned_row, storage_name_of, str_id
from media_pipeline.frontend.library_shapes import (
    ClipList,
    ProjectList,
    ProjectOut,
    clip_out,
    clips_with_exports,
    project_out,
)
from media_pipeline.library import generation
from media_pipeline.library import projects as library
from media_pipeline.library.models import Clip, Export, Project, SourceVideo
from media_pipeline.ops.voice_mute import VoiceMuteParams

router = Router(tags=["frontend: library projects"])
V1 = "/api/v1/library"
ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
START_ERRORS = {**ERRORS, 402: ErrorOut, 413: ErrorOut, 415: ErrorOut, 429: ErrorOut}


def _route(method: str, path: str, successor: str, **extra) -> dict:
    """The frontend path `path` (under PREFIX) as an old path whose successor is `successor`
    ("METHOD /api/v1/..." or "" for none)."""
    return old_path(method, PREFIX + path, successor, **extra)


def _project(request, project_id: str) -> Project:
    return owned_row(
        Project.objects.select_related("current_job"), request.auth, project_id, what="project"
    )


class ProjectIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    target_duration: int = Field(20, ge=2, le=600, description="seconds per clip")
    context_text: str = Field("", max_length=20000)


class ProjectReset(InputSchema):
    status: Literal["draft"] = Field(description="only `draft`: reset for a new generation")


class ProjectDeleted(Schema):
    deleted: bool
    clips_deleted: int


class ProgressOut(Schema):
    percentage: int = Field(ge=0, le=100)
    current_step: str | None
    estimated_remaining: int | None = Field(description="seconds")


class GenerationStarted(Schema):
    status: str
    project_id: str
    job_id: str
    variant_count: int
    segments_count: int | None = None
    message: str


class FromSegmentsIn(InputSchema):
    variant_count: int = Field(ge=1, le=10)
    selection_mode: Literal["random", "sequential", "weighted"]
    target_duration: int = Field(ge=2, le=600, description="seconds per clip")
    mute_source_voice: bool
    tts_text: str | None = None
    generate_tts: bool | None = None


@router.get(
    "/library/projects",
    response={200: ProjectList, 401: ErrorOut},
    summary="Your projects, newest first",
    **_route("GET", "/library/projects", f"GET {V1}/projects"),
)
def list_projects(request):
    projects = Project.objects.for_owner(request.auth).order_by("-created_at", "-id")
    return ProjectList(projects=[project_out(p) for p in projects])


@router.post(
    "/library/projects",
    response={201: ProjectOut, **ERRORS},
    summary="Create a project (answers the bare Project)",
    **_route("POST", "/library/projects", f"POST {V1}/projects"),
)
def create_project(request, data: ProjectIn):
    return Status(201, project_out(library.project_create(owner=request.auth, **data.dict())))


@router.get(
    "/library/projects/{project_id}",
    response={200: ProjectOut, **ERRORS},
    summary="A project",
    **_route("GET", "/library/projects/{project_id}", f"GET {V1}/projects/{{project_id}}"),
)
def get_project(request, project_id: str):
    return project_out(_project(request, project_id))


@router.patch(
    "/library/projects/{project_id}",
    response={200: ProjectOut, **ERRORS},
    summary="Reset a project for a new generation ({status: 'draft'}; answers the bare Project)",
    **_route(
        "PATCH",
        "/library/projects/{project_id}",
        "",
        note="No v1 successor is needed: v1's generate works from any status but generating.",
    ),
)
def reset_project(request, project_id: str, data: ProjectReset):
    return project_out(library.project_reset(project=_project(request, project_id)))


@router.delete(
    "/library/projects/{project_id}",
    response={200: ProjectDeleted, **ERRORS},
    summary="Delete a project with its clips and their files (409 while generating)",
    **_route("DELETE", "/library/projects/{project_id}", f"DELETE {V1}/projects/{{project_id}}"),
)
def delete_project(request, project_id: str):
    clips = library.project_delete(project=_project(request, project_id))
    return ProjectDeleted(deleted=True, clips_deleted=clips)


@router.get(
    "/library/projects/{project_id}/clips",
    response={200: ClipList, **ERRORS},
    summary="The project's clips outside the trash, in variant order",
    **_route(
        "GET",
        "/library/projects/{project_id}/clips",
        f"GET {V1}/projects/{{project_id}}/clips",
    ),
)
def project_clips(request, project_id: str):
    project = _project(request, project_id)
    clips = clips_with_exports(Clip.objects.filter(project=project).alive())
    return ClipList(
        clips=[clip_out(c, owner_id=request.auth.pk) for c in clips.order_by("variant_index", "id")]
    )


@router.get(
    "/library/projects/{project_id}/progress",
    response={200: ProgressOut, **ERRORS},
    summary="Progress of the project's generation, in integers",
    **_route(
        "GET",
        "/library/projects/{project_id}/progress",
        f"GET {V1}/projects/{{project_id}}/progress",
    ),
)
def project_progress(request, project_id: str):
    project = _project(request, project_id)
    progress = library.project_progress(project)
    eta = progress["estimated_remaining"]
    generating = project.status == Project.Status.GENERATING
    return ProgressOut(
        percentage=max(0, min(100, int(progress["percentage"]))),
        current_step=progress["current_step"] or None,
        estimated_remaining=round(eta) if generating and eta is not None else None,
    )


def _stored_video(request, token: str) -> tuple[SourceVideo | None, str]:
    """The user's stored video a `video_path` token names: (their source video or None, its
    storage name). Only files of theirs that are videos (a source video, a clip, a render)."""
    name = storage_name_of(token, user=request.auth, field="video_path")
    user = request.auth
    video = SourceVideo.objects.for_owner(user).filter(file=name).first()
    if video is not None:
        return video, name
    if (
        Clip.objects.for_owner(user).filter(file=name).exists()
        or Export.objects.filter(clip__project__owner=user, file=name).exists()
    ):
        return None, name
    raise Invalid.field("video_path", "'video_path' names no video of yours")


@router.post(
    "/library/projects/{project_id}/generate",
    response={202: GenerationStarted, **START_ERRORS},
    summary="Generate the project's clips from a video (multipart `video` or `video_path`)",
    **_route(
        "POST",
        "/library/projects/{project_id}/generate",
        f"POST {V1}/projects/{{project_id}}/generate",
    ),
)
def generate(
    request,
    project_id: str,
    variant_count: Annotated[int, Form(ge=1, le=10)],
    video_path: Form[str] = None,
    video: File[UploadedFile] = None,
):
    project = _project(request, project_id)
    if (video is None) == (video_path is None):
        raise Invalid(
            "give exactly one of 'video' (an upload) or 'video_path'",
            [{"field": "video"}, {"field": "video_path"}],
        )
    source_video, stored_name = _stored_video(request, video_path) if video_path else (None, None)
    job = generation.project_generate_from_video(
        owner=request.auth,
        project=project,
        variant_count=variant_count,
        upload=video,
        upload_field="video",
        source_video=source_video,
        stored_name=stored_name,
    )
    return Status(
        202,
        GenerationStarted(
            status="generating",
            project_id=str_id(project.id),
            job_id=str_id(job.id),
            variant_count=variant_count,
            message=f"Generating {variant_count} clip(s)",
        ),
    )


def _script(data: FromSegmentsIn) -> str | None:
    """The voice-over script for the new clips (see the module doc)."""
    if data.generate_tts:
        if not (data.tts_text or "").strip():
            raise Invalid.field("tts_text", "'generate_tts' is true but 'tts_text' is empty")
        return data.tts_text
    if data.tts_text is not None and data.tts_text.strip():
        raise Invalid.field(
            "generate_tts", "'tts_text' is given: set 'generate_tts' to true to use it"
        )
    return None


@router.post(
    "/library/projects/{project_id}/generate-from-segments",
    response={202: GenerationStarted, **START_ERRORS},
    summary="Generate the project's clips from its assigned segments",
    **_route(
        "POST",
        "/library/projects/{project_id}/generate-from-segments",
        f"POST {V1}/projects/{{project_id}}/generate-from-segments",
    ),
)
def generate_from_segments(request, project_id: str, data: FromSegmentsIn):
    project = _project(request, project_id)
    job = generation.project_generate_from_segments(
        owner=request.auth,
        project=project,
        variant_count=data.variant_count,
        order=data.selection_mode,
        target_duration=data.target_duration,
        voice_mute=VoiceMuteParams() if data.mute_source_voice else None,
        tts_text=_script(data),
    )
    segments = len(job.params["segments"])
    return Status(
        202,
        GenerationStarted(
            status="generating",
            project_id=str_id(project.id),
            job_id=str_id(job.id),
            variant_count=data.variant_count,
            segments_count=segments,
            message=f"Generating {data.variant_count} clip(s) from {segments} segment(s)",
        ),
    )


@router.post(
    "/library/projects/{project_id}/cancel",
    response={200: ProjectOut, **ERRORS},
    summary="Cancel the running generation (the project goes back to draft, or to "
    "ready_for_triage when it has clips; 409 when none runs)",
    **_route(
        "POST",
        "/library/projects/{project_id}/cancel",
        f"POST {V1}/projects/{{project_id}}/cancel",
    ),
)
def cancel_generation(request, project_id: str):
    return project_out(library.project_cancel_generation(project=_project(request, project_id)))
