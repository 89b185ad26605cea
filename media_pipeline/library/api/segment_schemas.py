"""API shapes of source videos, segments, SRT cue matching and segment assignment (the
endpoints: `segments`)."""

from datetime import datetime
from typing import Annotated

from django.urls import reverse
from ninja import Schema
from pydantic import Field, StringConstraints

from core.media_urls import signed_url
from core.pagination import MAX_OFFSET
from core.strict import InputSchema
from media_pipeline.library.api.common import schema_of
from media_pipeline.library.models import Segment, SourceVideo

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def _media_url(url_name: str, owner_id: int, **kwargs) -> str:
    """A signed link to one of the owner's media endpoints (core.media_urls)."""
    return signed_url(reverse(f"api:{url_name}", kwargs=kwargs), owner_id=owner_id)


class SourceVideoOut(Schema):
    id: int
    name: str
    size: int
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    media_info: dict
    has_thumbnail: bool
    segments_count: int
    created_at: datetime
    stream_url: str = Field(description="the video (GET, Range; a signed link: no header needed)")
    thumbnail_url: str | None = Field(description="its JPEG thumbnail (signed), null without one")

    @staticmethod
    def of(video: SourceVideo) -> "SourceVideoOut":
        return schema_of(
            SourceVideoOut,
            video,
            has_thumbnail=bool(video.thumbnail),
            segments_count=video.segments.count(),
            stream_url=_media_url("stream_source_video", video.owner_id, video_id=video.id),
            thumbnail_url=(
                _media_url("source_video_thumbnail", video.owner_id, video_id=video.id)
                if video.thumbnail
                else None
            ),
        )


class SourceVideoPage(Schema):
    total: int
    limit: int
    offset: int
    items: list[SourceVideoOut]


class SourceVideoPatch(InputSchema):
    name: Name


class SourceVideoDeleted(Schema):
    deleted: bool
    files_deleted: int
    segments_deleted: int


class SegmentIn(InputSchema):
    start: float = Field(ge=0)
    end: float = Field(gt=0)
    keywords: list[Keyword] = Field(default_factory=list, max_length=50)
    notes: str = Field("", max_length=5000)


class SegmentPatch(InputSchema):
    start: float | None = Field(None, ge=0)
    end: float | None = Field(None, gt=0)
    keywords: list[Keyword] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=5000)
    favorite: bool | None = None


class SegmentOut(Schema):
    id: int
    source_video_id: int
    start: float
    end: float
    duration: float
    keywords: list[str]
    score: float | None
    favorite: bool
    notes: str
    usage_count: int
    extracted: bool
    created_at: datetime
    stream_url: str | None = Field(
        description="the extracted file (GET, Range; a signed link: no header needed), null "
        "until the segment is extracted"
    )

    @staticmethod
    def of(segment: Segment) -> "SegmentOut":
        return schema_of(
            SegmentOut,
            segment,
            duration=round(segment.duration, 3),
            extracted=bool(segment.extracted_file),
            stream_url=(
                _media_url("stream_segment", segment.owner_id, segment_id=segment.id)
                if segment.extracted_file
                else None
            ),
        )


class SegmentPage(Schema):
    total: int
    limit: int
    offset: int
    items: list[SegmentOut]


class SegmentFilters(Schema):
    keyword: str | None = Field(
        None, max_length=100, description="case/diacritics-insensitive substring of a keyword"
    )
    source: int | None = Field(None, description="a source video id")
    favorites: bool | None = Field(
        None, description="true: only favorites; false: only the others; absent: all"
    )
    min_duration: float | None = Field(None, ge=0)
    max_duration: float | None = Field(None, ge=0)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class FavoriteIn(InputSchema):
    favorite: bool | None = Field(None, description="true/false sets the flag; null toggles it")


class MatchSrtIn(InputSchema):
    srt: str = Field(max_length=200_000)
    source_video_id: int | None = None


class SegmentMatch(Schema):
    keyword: str
    segment: SegmentOut


class CueMatches(Schema):
    index: int
    start: float
    end: float
    text: str
    matches: list[SegmentMatch]


class MatchSrtOut(Schema):
    cues: list[CueMatches]
    matched_cues: int
    warnings: list[dict]


class AssignSegmentsIn(InputSchema):
    segment_ids: list[int] = Field(min_length=1, max_length=200)


class AssignSegmentsOut(Schema):
    project_id: int
    segment_ids: list[int]
    segments: list[SegmentOut]
    total_duration: float
