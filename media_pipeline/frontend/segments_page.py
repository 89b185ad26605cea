"""The Library page's segment modal (contract 4.2, 5.11, 5.12, M9): source videos, their
segments, new segments, the segment player's stream, and the project's assigned segments.

Mapping rules (request -> the library services the v1 endpoints call):
- A source video's `id` is signed (`<pk>.<expiry>.<signature>`, EF_MEDIA_URL_TTL, the same id
  for every listing within a window): the player builds `/segments/source-videos/{id}/stream`
  from the id alone and sends no header, so the stream route needs a valid, unexpired signature
  made for that very video. The other routes take the id with the Bearer token: the user's
  video of that pk (the signature part is not needed).
- POST .../segments: `start_time` -> start, `end_time` -> end, `keywords`, `notes` ->
  `segment_create` (422 when the end is not after the start or past the video's end).
- POST /segments/projects/{id}/assign (multipart, `segment_ids` repeated in selection order)
  -> `project_segments_assign` (replaces the project's assignment; 404 naming ids not yours).
  GET /segments/projects/{id}/segments: the assigned segments in that order.
"""

from ninja import Form, Router, Schema, Status
from pydantic import Field

from core.deprecation import old_path
from core.downloads import stream_stored_file
from core.errors import Invalid, NotFound
from core.media_urls import object_id_pk, read_signed_object_id
from core.strict import InputSchema, media_route
from jobs.schemas import ErrorOut
from media_pipeline.frontend.api import PREFIX
from media_pipeline.frontend.common import owned_row, pk_of, str_id
from media_pipeline.frontend.library_shapes import (
    SOURCE_VIDEO,
    SegmentOut,
    SourceVideoOut,
    segment_out,
    source_video_out,
    source_videos_with_counts,
)
from media_pipeline.library import media as library_media
from media_pipeline.library.models import Project, Segment, SourceVideo

router = Router(tags=["frontend: library segments"])
V1 = "/api/v1/library"
ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _route(method: str, path: str, successor: str, **extra) -> dict:
    return old_path(method, PREFIX + path, successor, **extra)


def _video(request, video_id: str) -> SourceVideo:
    """The user's source video of a (signed or plain) id."""
    return owned_row(SourceVideo.objects, request.auth, object_id_pk(video_id), what="video")


class SegmentIn(InputSchema):
    start_time: float = Field(ge=0)
    end_time: float = Field(gt=0)
    keywords: list[str] = Field(max_length=50)
    notes: str = Field("", max_length=5000)


class Assigned(Schema):
    project_id: str
    segment_ids: list[str]
    segments_count: int


@router.get(
    "/segments/source-videos",
    response={200: list[SourceVideoOut], 401: ErrorOut},
    summary="Your source videos, newest first (a bare array)",
    **_route("GET", "/segments/source-videos", f"GET {V1}/source-videos"),
)
def list_source_videos(request):
    videos = source_videos_with_counts(SourceVideo.objects.for_owner(request.auth))
    return [
        source_video_out(v, owner_id=request.auth.pk) for v in videos.order_by("-created_at", "-id")
    ]


@router.get(
    "/segments/source-videos/{video_id}/segments",
    response={200: list[SegmentOut], **ERRORS},
    summary="A source video's segments by start time (a bare array)",
    **_route(
        "GET",
        "/segments/source-videos/{video_id}/segments",
        f"GET {V1}/segments",
        note="Filter the successor by `source`.",
    ),
)
def video_segments(request, video_id: str):
    video = _video(request, video_id)
    segments = Segment.objects.filter(source_video=video).select_related("source_video")
    return [segment_out(s, owner_id=request.auth.pk) for s in segments.order_by("start", "id")]


@router.post(
    "/segments/source-videos/{video_id}/segments",
    response={201: SegmentOut, **ERRORS},
    summary="Mark a segment of a source video",
    **_route(
        "POST",
        "/segments/source-videos/{video_id}/segments",
        f"POST {V1}/source-videos/{{video_id}}/segments",
    ),
)
def create_segment(request, video_id: str, data: SegmentIn):
    video = _video(request, video_id)
    try:
        segment = library_media.segment_create(
            video=video,
            start=data.start_time,
            end=data.end_time,
            keywords=data.keywords,
            notes=data.notes,
        )
    except Invalid as exc:  # the service names its own fields: say the page's names
        fields = [_FIELDS.get(d.get("field"), d.get("field")) for d in exc.details]
        raise Invalid(
            f"'{fields[0]}': {exc.message}" if fields else exc.message,
            [{**d, "field": f} for d, f in zip(exc.details, fields, strict=True)],
        ) from None
    return Status(201, segment_out(segment, owner_id=request.auth.pk))


_FIELDS = {"start": "start_time", "end": "end_time"}


@router.get(
    "/segments/source-videos/{video_id}/stream",
    auth=None,
    response={200: None, 206: None, 404: ErrorOut, 416: None, 422: ErrorOut},
    summary="Stream a source video (Range); no header: the id's signature opens it (M9)",
    **_route(
        "GET",
        "/segments/source-videos/{video_id}/stream",
        f"GET {V1}/source-videos/{{video_id}}/stream",
    ),
)
@media_route
def stream_source_video(request, video_id: str):
    pk = read_signed_object_id(SOURCE_VIDEO, video_id)
    video = SourceVideo.objects.filter(id=pk).first()
    if video is None or not video.file:
        raise NotFound(f"video {video_id!r} not found")
    return stream_stored_file(request, name=video.file.name, inline=True)


@router.post(
    "/segments/projects/{project_id}/assign",
    response={200: Assigned, **ERRORS},
    summary="Assign segments to a project, in order (multipart `segment_ids`, repeated)",
    **_route(
        "POST",
        "/segments/projects/{project_id}/assign",
        f"POST {V1}/projects/{{project_id}}/assign-segments",
    ),
)
def assign_segments(request, project_id: str, segment_ids: Form[list[str]]):
    project = owned_row(Project.objects, request.auth, project_id, what="project")
    if not segment_ids:
        raise Invalid.field("segment_ids", "'segment_ids' is empty")
    segments = library_media.project_segments_assign(
        project=project, segment_ids=[pk_of(s, what="segment") for s in segment_ids]
    )
    return Assigned(
        project_id=str_id(project.id),
        segment_ids=[str_id(s.id) for s in segments],
        segments_count=len(segments),
    )


@router.get(
    "/segments/projects/{project_id}/segments",
    response={200: list[SegmentOut], **ERRORS},
    summary="The segments assigned to a project, in their order (a bare array)",
    **_route(
        "GET",
        "/segments/projects/{project_id}/segments",
        f"GET {V1}/projects/{{project_id}}/segments",
    ),
)
def project_segments(request, project_id: str):
    project = owned_row(Project.objects, request.auth, project_id, what="project")
    segments = library_media.project_segments(project=project)
    return [segment_out(s, owner_id=request.auth.pk) for s in segments]
