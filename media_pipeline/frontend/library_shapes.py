"""The Library pages' answer shapes (contract 5.5-5.12), built from the library's rows.

Mapping rules:
- ids are strings; a source video's id is signed (`signed_object_id`): the segment player
  builds its stream URL from the id alone, with no header (M9).
- every file is a path token (`path_token`) the /files routes serve without a header.
- a clip's `final_status` speaks the frontend's four words, from its latest export (a render
  waiting to be retried is still `processing`; a cancelled or lost one has `failed`), else
  from the clip's render status: pending, processing, completed or failed, nothing else.
  `final_video_path` is the latest completed export's file.
- `postiz_status` is always `not_sent`: this backend does not publish to Postiz.
- Librarie's flags: `has_subtitles` = the content has an SRT; `has_voiceover` = the content
  has a voice-over script (rendering the clip voices it); `has_audio` = the clip's current
  file has sound (false after remove-audio or from a silent source; null when not recorded).
"""

from datetime import datetime
from typing import Any, Literal

from django.db.models import Count, Prefetch
from ninja import Schema

from core.media_urls import signed_object_id
from media_pipeline.frontend.common import path_token, str_id
from media_pipeline.library.models import Clip, ClipContent, Export, Project, Segment, SourceVideo

SOURCE_VIDEO = "source_video"  # the kind signed into source video ids
FinalStatus = Literal["pending", "processing", "completed", "failed"]


class ProjectOut(Schema):
    id: str
    name: str
    status: str
    variants_count: int
    selected_count: int
    exported_count: int
    description: str
    context_text: str
    target_duration: int
    created_at: datetime


class ProjectList(Schema):
    projects: list[ProjectOut]


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=str_id(project.id),
        name=project.name,
        status=project.status,
        variants_count=project.variants_count,
        selected_count=project.selected_count,
        exported_count=project.exported_count,
        description=project.description,
        context_text=project.context_text,
        target_duration=round(project.target_duration),
        created_at=project.created_at,
    )


class ClipOut(Schema):
    id: str
    project_id: str
    variant_index: int
    variant_name: str
    raw_video_path: str | None
    thumbnail_path: str | None
    duration: float | None
    is_selected: bool
    is_deleted: bool
    final_video_path: str | None
    final_status: FinalStatus
    postiz_status: str = "not_sent"
    created_at: datetime


class ClipList(Schema):
    clips: list[ClipOut]


class ClipWithProjectOut(ClipOut):
    project_name: str
    has_subtitles: bool
    has_voiceover: bool
    has_audio: bool | None


class ClipWithProjectList(Schema):
    clips: list[ClipWithProjectOut]


class ContentOut(Schema):
    id: str
    clip_id: str
    tts_text: str | None
    srt_content: str | None
    subtitle_settings: dict[str, Any] | None  # exactly what was saved, nothing added


class ClipDetail(Schema):
    clip: ClipOut
    content: ContentOut | None


class ContentSaved(Schema):
    content: ContentOut


_EXPORT_WORD = {
    Export.Status.QUEUED: "processing",
    Export.Status.RENDERING: "processing",
    Export.Status.COMPLETED: "completed",
    Export.Status.FAILED: "failed",
}
_CLIP_WORD = {
    Clip.RenderStatus.NONE: "pending",
    Clip.RenderStatus.RENDERING: "processing",
    Clip.RenderStatus.RENDERED: "completed",
    Clip.RenderStatus.FAILED: "failed",
}


def clips_with_exports(queryset):
    """Clips with their exports, newest first (for `clip_out`), in one extra query."""
    exports = Export.objects.order_by("-created_at", "-id")
    return queryset.prefetch_related(Prefetch("exports", queryset=exports, to_attr="_exports"))


def _exports(clip: Clip) -> list[Export]:
    if hasattr(clip, "_exports"):
        return clip._exports
    return list(clip.exports.order_by("-created_at", "-id"))


def clip_final_status(clip: Clip, exports: list[Export]) -> FinalStatus:
    if exports:
        return _EXPORT_WORD[exports[0].status]
    return _CLIP_WORD[clip.final_status]


def _clip_fields(clip: Clip, owner_id: int) -> dict:
    exports = _exports(clip)
    completed = next((e for e in exports if e.status == Export.Status.COMPLETED and e.file), None)
    return {
        "id": str_id(clip.id),
        "project_id": str_id(clip.project_id),
        "variant_index": clip.variant_index,
        "variant_name": clip.variant_name,
        "raw_video_path": path_token(clip.file.name, owner_id=owner_id),
        "thumbnail_path": path_token(clip.thumbnail.name, owner_id=owner_id),
        "duration": clip.duration,
        "is_selected": clip.is_selected,
        "is_deleted": clip.in_trash,
        "final_video_path": path_token(completed.file.name, owner_id=owner_id)
        if completed
        else None,
        "final_status": clip_final_status(clip, exports),
        "created_at": clip.created_at,
    }


def clip_out(clip: Clip, *, owner_id: int) -> ClipOut:
    return ClipOut(**_clip_fields(clip, owner_id))


def _content_of(clip: Clip) -> ClipContent | None:
    try:
        return clip.content
    except ClipContent.DoesNotExist:
        return None


def clip_with_project_out(clip: Clip, *, owner_id: int) -> ClipWithProjectOut:
    content = _content_of(clip)
    return ClipWithProjectOut(
        **_clip_fields(clip, owner_id),
        project_name=clip.project.name,
        has_subtitles=bool(content and content.srt.strip()),
        has_voiceover=bool(content and content.tts_text.strip()),
        has_audio=clip.has_audio,
    )


def content_out(content: ClipContent | None) -> ContentOut | None:
    if content is None:
        return None
    return ContentOut(
        id=str_id(content.id),
        clip_id=str_id(content.clip_id),
        tts_text=content.tts_text,
        srt_content=content.srt,
        subtitle_settings=content.subtitle_settings or None,
    )


def clip_detail(clip: Clip, *, owner_id: int) -> ClipDetail:
    return ClipDetail(
        clip=clip_out(clip, owner_id=owner_id), content=content_out(_content_of(clip))
    )


# --- source videos and segments -----------------------------------------------------------------
class SourceVideoOut(Schema):
    id: str
    name: str
    segments_count: int
    duration: float | None
    file_path: str | None
    thumbnail_path: str | None
    width: int | None
    height: int | None
    fps: float | None
    created_at: datetime


class SegmentOut(Schema):
    id: str
    source_video_id: str
    start_time: float
    end_time: float
    duration: float
    keywords: list[str]
    extracted_video_path: str | None
    usage_count: int
    is_favorite: bool
    notes: str | None
    created_at: datetime
    source_video_name: str | None


def source_video_id(video_id: int) -> str:
    return signed_object_id(SOURCE_VIDEO, video_id)


def source_videos_with_counts(queryset):
    return queryset.annotate(n_segments=Count("segments"))


def source_video_out(video: SourceVideo, *, owner_id: int) -> SourceVideoOut:
    count = getattr(video, "n_segments", None)
    return SourceVideoOut(
        id=source_video_id(video.id),
        name=video.name,
        segments_count=video.segments.count() if count is None else count,
        duration=video.duration,
        file_path=path_token(video.file.name, owner_id=owner_id),
        thumbnail_path=path_token(video.thumbnail.name, owner_id=owner_id),
        width=video.width,
        height=video.height,
        fps=video.fps,
        created_at=video.created_at,
    )


def segment_out(segment: Segment, *, owner_id: int) -> SegmentOut:
    return SegmentOut(
        id=str_id(segment.id),
        source_video_id=source_video_id(segment.source_video_id),
        start_time=segment.start,
        end_time=segment.end,
        duration=round(segment.duration, 3),
        keywords=list(segment.keywords or []),
        extracted_video_path=path_token(segment.extracted_file.name, owner_id=owner_id),
        usage_count=segment.usage_count,
        is_favorite=segment.favorite,
        notes=segment.notes,
        created_at=segment.created_at,
        source_video_name=segment.source_video.name,
    )
