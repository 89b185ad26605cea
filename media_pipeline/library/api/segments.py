"""Library API: source videos (upload, stream, rename, delete) and their segments (create, list,
favorite, extract, stream), SRT cue matching, and segment assignment to a project.

`POST /projects/{id}/assign-segments` stores the user's segments (404 for any that is not
theirs) as the project's assigned segments, in the given order, replacing the earlier ones, and
answers them with their total length; `GET /projects/{id}/segments` lists them, and the
project's generate-from-segments uses them when it is given no `segment_ids`. `usage_count` is
left to the services that build clips from them.
"""

from pathlib import PurePosixPath

from django.shortcuts import get_object_or_404
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile

from core.apierrors import ApiError
from core.auth import MEDIA_AUTH
from core.downloads import stream_stored_file
from core.pagination import MAX_OFFSET, page_of
from core.strict import idempotent_route
from jobs.schemas import ErrorOut
from media_pipeline.library import media as library
from media_pipeline.library.api.common import ERRORS, START_RESPONSES, owned, start_job
from media_pipeline.library.api.segment_schemas import (
    AssignSegmentsIn,
    AssignSegmentsOut,
    CueMatches,
    FavoriteIn,
    MatchSrtIn,
    MatchSrtOut,
    SegmentFilters,
    SegmentIn,
    SegmentMatch,
    SegmentOut,
    SegmentPage,
    SegmentPatch,
    SourceVideoDeleted,
    SourceVideoOut,
    SourceVideoPage,
    SourceVideoPatch,
)
from media_pipeline.library.models import Project, Segment, SourceVideo
from media_pipeline.library.uploads import validate_media_upload
from media_pipeline.ops.srt_validation import validate_srt

router = Router(tags=["segments"])
SOURCES = ["source videos"]
UPLOAD_ERRORS = {401: ErrorOut, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut, 503: ErrorOut}


# --- source videos ------------------------------------------------------------------------------
def _video(request, video_id: int) -> SourceVideo:
    return owned(SourceVideo.objects, request.auth, id=video_id)


@router.get(
    "/source-videos",
    response={200: SourceVideoPage, 401: ErrorOut, 422: ErrorOut},
    tags=SOURCES,
    summary="Your source videos, newest first",
)
def list_source_videos(
    request, limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=MAX_OFFSET)
):
    qs = SourceVideo.objects.for_owner(request.auth).order_by("-created_at", "-id")
    return SourceVideoPage(**page_of(qs, limit=limit, offset=offset, item=SourceVideoOut.of))


@router.post(
    "/source-videos",
    response={201: SourceVideoOut, **UPLOAD_ERRORS},
    tags=SOURCES,
    summary="Upload a source video (probed, with a thumbnail)",
)
def upload_source_video(request, file: File[UploadedFile], name: Form[str] = None):
    if name is not None and len(name) > 255:
        raise ApiError(422, "validation_error", "'name' is longer than 255", [{"field": "name"}])
    info = validate_media_upload(file, need_video=True)
    video = library.source_video_create(owner=request.auth, upload=file, info=info, name=name)
    return Status(201, SourceVideoOut.of(video))


@router.get(
    "/source-videos/{video_id}",
    response={200: SourceVideoOut, **ERRORS},
    tags=SOURCES,
    summary="One source video",
)
def get_source_video(request, video_id: int):
    return SourceVideoOut.of(_video(request, video_id))


@router.patch(
    "/source-videos/{video_id}",
    response={200: SourceVideoOut, **ERRORS},
    tags=SOURCES,
    summary="Rename a source video",
)
def patch_source_video(request, video_id: int, payload: SourceVideoPatch):
    video = _video(request, video_id)
    return SourceVideoOut.of(library.source_video_rename(video=video, name=payload.name))


@router.delete(
    "/source-videos/{video_id}",
    response={200: SourceVideoDeleted, **ERRORS},
    tags=SOURCES,
    summary="Delete a source video, its thumbnail, its segments and their extracted files",
)
def delete_source_video(request, video_id: int):
    video = _video(request, video_id)
    return library.source_video_delete(video=video)


@router.get(
    "/source-videos/{video_id}/stream",
    auth=MEDIA_AUTH,
    response={200: None, 206: None, 416: None, **ERRORS},
    tags=SOURCES,
    summary="Stream a source video (supports Range)",
)
def stream_source_video(request, video_id: int):
    video = _video(request, video_id)
    return _stream(request, video.file, f"source-{video.id}")


@router.get(
    "/source-videos/{video_id}/thumbnail",
    auth=MEDIA_AUTH,
    response={200: None, **ERRORS},
    tags=SOURCES,
    summary="The source video's JPEG thumbnail (404 when it has none)",
)
def source_video_thumbnail(request, video_id: int):
    video = _video(request, video_id)
    return _stream(request, video.thumbnail, f"source-{video.id}-thumbnail")


def _stream(request, field, stem: str):
    if not field:
        raise ApiError(404, "not_found", "there is no such file")
    name = field.name  # library_upload_to's: a uuid and a sane suffix
    return stream_stored_file(
        request, name=name, filename=f"{stem}{PurePosixPath(name).suffix}", inline=True
    )


# --- segments -----------------------------------------------------------------------------------
def _segment(request, segment_id: int) -> Segment:
    return get_object_or_404(
        Segment.objects.for_owner(request.auth).select_related("source_video"), id=segment_id
    )


@router.post(
    "/source-videos/{video_id}/segments",
    response={201: SegmentOut, **ERRORS},
    summary="Mark a segment of a source video (end after start, within the video)",
)
def create_segment(request, video_id: int, payload: SegmentIn):
    video = _video(request, video_id)
    segment = library.segment_create(
        video=video,
        start=payload.start,
        end=payload.end,
        keywords=payload.keywords,
        notes=payload.notes,
    )
    return Status(201, SegmentOut.of(segment))


@router.get(
    "/segments",
    response={200: SegmentPage, 401: ErrorOut, 422: ErrorOut},
    summary="Your segments, filtered; in source and time order",
)
def list_segments(request, filters: Query[SegmentFilters]):
    qs = library.segment_list(
        owner=request.auth,
        keyword=filters.keyword,
        source_id=filters.source,
        favorites=filters.favorites,
        min_duration=filters.min_duration,
        max_duration=filters.max_duration,
    ).order_by("source_video_id", "start", "id")
    return SegmentPage(
        **page_of(qs, limit=filters.limit, offset=filters.offset, item=SegmentOut.of)
    )


@router.get("/segments/{segment_id}", response={200: SegmentOut, **ERRORS}, summary="One segment")
def get_segment(request, segment_id: int):
    return SegmentOut.of(_segment(request, segment_id))


@router.patch(
    "/segments/{segment_id}",
    response={200: SegmentOut, **ERRORS},
    summary="Change a segment (a new span drops its extracted file)",
)
def patch_segment(request, segment_id: int, payload: SegmentPatch):
    segment = _segment(request, segment_id)
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    return SegmentOut.of(library.segment_update(segment=segment, changes=changes))


@router.delete(
    "/segments/{segment_id}",
    response={200: SourceVideoDeleted, **ERRORS},
    summary="Delete a segment and its extracted file",
)
def delete_segment(request, segment_id: int):
    files = library.segment_delete(segment=_segment(request, segment_id))
    return SourceVideoDeleted(deleted=True, files_deleted=files, segments_deleted=1)


@router.post(
    "/segments/{segment_id}/favorite",
    response={200: SegmentOut, **ERRORS},
    summary="Favorite a segment: {favorite: true|false} sets it; no body or null toggles it",
)
def favorite_segment(request, segment_id: int, payload: FavoriteIn = None):
    segment = _segment(request, segment_id)
    favorite = payload.favorite if payload else None
    return SegmentOut.of(library.segment_set_favorite(segment=segment, favorite=favorite))


@router.post(
    "/segments/{segment_id}/extract",
    response=START_RESPONSES,
    summary="Cut the segment's span into its own file (a segment_extract job)",
)
@idempotent_route
def extract_segment(request, segment_id: int):
    segment = _segment(request, segment_id)
    return start_job(
        request,
        "segment_extract",
        params={"segment_id": segment.id},
        shared_inputs={"source": segment.source_video.file.name},
    )


@router.get(
    "/segments/{segment_id}/stream",
    auth=MEDIA_AUTH,
    response={200: None, 206: None, 416: None, **ERRORS},
    summary="Stream the segment's extracted file (404 until it is extracted)",
)
def stream_segment(request, segment_id: int):
    segment = _segment(request, segment_id)
    return _stream(request, segment.extracted_file, f"segment-{segment.id}")


# --- SRT matching and project assignment ----------------------------------------------------------
@router.post(
    "/match-srt",
    response={200: MatchSrtOut, **ERRORS},
    summary="For each SRT cue, your segments whose keywords it mentions",
)
def match_srt(request, payload: MatchSrtIn):
    checked = validate_srt(payload.srt)
    if not checked.ok:
        raise ApiError(422, "invalid_srt", checked.summary(), checked.errors)
    video = None
    if payload.source_video_id is not None:
        video = _video(request, payload.source_video_id)
    matches = library.segments_matching_cues(
        owner=request.auth, cues=checked.cues, source_video=video
    )
    cues = [
        CueMatches(
            index=cue.index,
            start=cue.start.total_seconds(),
            end=cue.end.total_seconds(),
            text=cue.content,
            matches=[SegmentMatch(keyword=k, segment=SegmentOut.of(s)) for s, k in hits],
        )
        for cue, hits in matches
    ]
    return MatchSrtOut(
        cues=cues, matched_cues=sum(1 for c in cues if c.matches), warnings=checked.warnings
    )


def _assigned(project: Project, segments: list[Segment]) -> AssignSegmentsOut:
    return AssignSegmentsOut(
        project_id=project.id,
        segment_ids=[s.id for s in segments],
        segments=[SegmentOut.of(s) for s in segments],
        total_duration=round(sum(s.duration for s in segments), 3),
    )


@router.post(
    "/projects/{project_id}/assign-segments",
    response={200: AssignSegmentsOut, **ERRORS},
    summary="Assign segments to a project, in order (replaces its earlier assignment)",
    description="generate-from-segments uses them when it is given no `segment_ids`.",
)
def assign_segments(request, project_id: int, payload: AssignSegmentsIn):
    project = owned(Project.objects, request.auth, id=project_id)
    segments = library.project_segments_assign(project=project, segment_ids=payload.segment_ids)
    return _assigned(project, segments)


@router.get(
    "/projects/{project_id}/segments",
    response={200: AssignSegmentsOut, **ERRORS},
    summary="The segments assigned to a project, in their order",
)
def project_segments(request, project_id: int):
    project = owned(Project.objects, request.auth, id=project_id)
    return _assigned(project, library.project_segments(project=project))
