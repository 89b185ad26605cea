"""Services of the library's media: source videos, their segments, and clip exports.

API endpoints and job handlers call these. Files always go through the rows' FileFields
(`library_upload_to` names them), so no storage name is ever built from user input, and
deleting a row here deletes its files.
"""

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import pydantic
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.apierrors import ApiError
from jobs.status import JobStatus
from media_pipeline.jobtypes.render_clip import ClipRecipe
from media_pipeline.library.models import (
    Clip,
    ClipContent,
    Export,
    ExportPreset,
    Project,
    Segment,
    SourceVideo,
)
from media_pipeline.ops.errors import FFmpegError, InvalidMediaError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.keyword_match import keyword_in, normalise
from media_pipeline.ops.presets import Preset
from media_pipeline.ops.probe import MediaInfo
from media_pipeline.ops.render import build_thumbnail_args

logger = logging.getLogger(__name__)

# Fuzzy threshold of SRT cue matching (rapidfuzz partial ratio), as in multi-video edits.
MATCH_THRESHOLD = 80.0
# A span may end this close past the probed duration (the probe rounds to milliseconds).
DURATION_TOLERANCE = 0.001


class LibraryRowGone(InvalidMediaError):
    """The row a job works on was deleted (or is not the job owner's): retrying cannot help."""


def _delete_file(field) -> int:
    if field and field.name:
        field.delete(save=False)
        return 1
    return 0


@contextlib.contextmanager
def local_path(name: str):
    """A local path of a stored file: in place on a filesystem storage, else a temporary copy."""
    try:
        in_place = Path(default_storage.path(name))
    except NotImplementedError:  # object storage: no local path
        in_place = None
    if in_place is not None:
        yield in_place
        return
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        copy = Path(tmp) / f"file{PurePosixPath(name).suffix}"
        with default_storage.open(name, "rb") as src, copy.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        yield copy


# --- source videos ------------------------------------------------------------------------------
def source_video_create(*, owner, upload, info: MediaInfo, name: str | None = None) -> SourceVideo:
    """Store a validated upload (`info` is its probe) with a thumbnail from its middle."""
    default_name = PurePosixPath(upload.name or "").name or "video"
    video = SourceVideo(
        owner=owner,
        name=(name or "").strip()[:255] or default_name[:255],
        size=upload.size,
        duration=info.duration,
        width=info.width,
        height=info.height,
        fps=info.fps,
        media_info=info.as_dict(),
    )
    video.file.save(upload.name or "video.mp4", upload, save=False)
    try:
        _attach_thumbnail(video)
        video.save()
    except BaseException:
        _delete_file(video.thumbnail)
        _delete_file(video.file)
        raise
    return video


def _attach_thumbnail(video: SourceVideo) -> None:
    """A JPEG from the middle; a video ffmpeg cannot decode a frame of simply has none."""
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        out = Path(tmp) / "thumbnail.jpg"
        with local_path(video.file.name) as path:
            args = build_thumbnail_args(str(path), str(out), at=(video.duration or 0) / 2)
            try:
                run_ffmpeg(args, timeout=60)
            except FFmpegError as exc:
                logger.warning("no thumbnail for source video %s: %s", video.file.name, exc)
                return
        with out.open("rb") as fh:
            video.thumbnail.save("thumbnail.jpg", File(fh), save=False)


def source_video_rename(*, video: SourceVideo, name: str) -> SourceVideo:
    video.name = name.strip()[:255]
    video.save(update_fields=["name"])
    return video


def source_video_delete(*, video: SourceVideo) -> dict:
    """Delete the video, its thumbnail, its segments and their extracted files."""
    segments = list(video.segments.all())
    files = sum(_delete_file(s.extracted_file) for s in segments)
    files += _delete_file(video.thumbnail) + _delete_file(video.file)
    video.delete()  # the segments go with it (CASCADE)
    return {"deleted": True, "files_deleted": files, "segments_deleted": len(segments)}


# --- segments -----------------------------------------------------------------------------------
def _check_span(start: float, end: float, duration: float | None) -> None:
    if end <= start:
        raise ApiError(
            422,
            "validation_error",
            f"end ({end}) must be after start ({start})",
            [{"field": "end", "msg": "must be after start"}],
        )
    if duration is not None and end > duration + DURATION_TOLERANCE:
        raise ApiError(
            422,
            "validation_error",
            f"end ({end}) is past the end of the video ({duration} s)",
            [{"field": "end", "msg": f"must be at most {duration}"}],
        )


def clean_keywords(keywords: list[str]) -> list[str]:
    """Stripped, without empties and repeats (compared case/diacritics-insensitively)."""
    seen, kept = set(), []
    for word in (k.strip() for k in keywords):
        key = normalise(word)
        if key and key not in seen:
            seen.add(key)
            kept.append(word)
    return kept


def segment_create(
    *, video: SourceVideo, start: float, end: float, keywords: list[str], notes: str = ""
) -> Segment:
    _check_span(start, end, video.duration)
    return Segment.objects.create(
        owner=video.owner,
        source_video=video,
        start=start,
        end=end,
        keywords=clean_keywords(keywords),
        notes=notes,
    )


def segment_update(*, segment: Segment, changes: dict) -> Segment:
    """Apply the given fields; a changed span makes the extracted file stale, so it goes."""
    start, end = changes.get("start", segment.start), changes.get("end", segment.end)
    span_changed = (start, end) != (segment.start, segment.end)
    if span_changed:
        _check_span(start, end, segment.source_video.duration)
        _delete_file(segment.extracted_file)
    segment.start, segment.end = start, end
    if "keywords" in changes:
        segment.keywords = clean_keywords(changes["keywords"])
    for field in ("notes", "favorite"):
        if field in changes:
            setattr(segment, field, changes[field])
    segment.save()
    return segment


def segment_set_favorite(*, segment: Segment, favorite: bool | None = None) -> Segment:
    """Set the flag, or toggle it when `favorite` is None."""
    segment.favorite = (not segment.favorite) if favorite is None else favorite
    segment.save(update_fields=["favorite"])
    return segment


def segment_delete(*, segment: Segment) -> int:
    files = _delete_file(segment.extracted_file)
    segment.delete()
    return files


def segment_list(
    *,
    owner,
    keyword: str | None = None,
    source_id: int | None = None,
    favorites: bool | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
):
    """The user's segments in (source, start) order. The keyword filter is a case- and
    diacritics-insensitive substring test on each keyword; it runs in Python because the
    database cannot fold diacritics portably (a user's segments are few enough)."""
    qs = Segment.objects.for_owner(owner).annotate(span=F("end") - F("start"))
    if source_id is not None:
        qs = qs.filter(source_video_id=source_id)
    if favorites is not None:
        qs = qs.filter(favorite=favorites)
    if min_duration is not None:
        qs = qs.filter(span__gte=min_duration)
    if max_duration is not None:
        qs = qs.filter(span__lte=max_duration)
    if not keyword or not normalise(keyword):
        return qs
    wanted = normalise(keyword)
    ids = [s.id for s in qs.only("id", "keywords") if _has_keyword(s.keywords, wanted)]
    return qs.filter(id__in=ids)


def _has_keyword(keywords: list, wanted: str) -> bool:
    return any(wanted in normalise(str(k)) for k in keywords or [])


def segments_matching_cues(*, owner, cues, source_video: SourceVideo | None = None) -> list:
    """For each cue (srt.Subtitle): [(segment, keyword)] of the user's segments one of whose
    keywords the cue mentions (case/diacritics-insensitive, small typos allowed)."""
    qs = Segment.objects.for_owner(owner)
    if source_video is not None:
        qs = qs.filter(source_video=source_video)
    segments = [s for s in qs if s.keywords]
    matches = []
    for cue in cues:
        hits = []
        for segment in segments:
            word = next(
                (
                    k
                    for k in segment.keywords
                    if keyword_in(k, cue.content, threshold=MATCH_THRESHOLD)
                ),
                None,
            )
            if word is not None:
                hits.append((segment, word))
        matches.append((cue, hits))
    return matches


def segments_for_project(*, owner, segment_ids: list[int]) -> list[Segment]:
    """The user's segments in the given order; 404 naming the ids that are not theirs."""
    found = Segment.objects.for_owner(owner).select_related("source_video").in_bulk(segment_ids)
    missing = [i for i in segment_ids if i not in found]
    if missing:
        raise ApiError(
            404, "not_found", f"segments not found: {missing}", [{"segment_ids": missing}]
        )
    return [found[i] for i in segment_ids]


def segment_for_job(*, segment_id: int, owner_id) -> Segment:
    segment = Segment.objects.filter(id=segment_id, owner_id=owner_id).first()
    if segment is None:
        raise LibraryRowGone(f"segment {segment_id} no longer exists")
    return segment


def segment_store_extract(*, segment_id: int, owner_id, start: float, end: float, path: Path):
    """Save the cut of [start, end] as the segment's extracted file, replacing an older one.
    Refused when the segment was deleted or its span changed while the job ran."""
    with transaction.atomic():
        segment = segment_for_job(segment_id=segment_id, owner_id=owner_id)
        if (segment.start, segment.end) != (start, end):
            raise LibraryRowGone(f"segment {segment_id} changed while it was being extracted")
        old = segment.extracted_file.name
        with path.open("rb") as fh:
            segment.extracted_file.save("segment.mp4", File(fh), save=True)
    if old:
        default_storage.delete(old)
    return segment


# --- exports ------------------------------------------------------------------------------------
def preset_from_row(row: ExportPreset) -> Preset:
    """The render format of an (editable) ExportPreset row."""
    return Preset(
        name=row.name,
        label=row.label,
        width=row.width,
        height=row.height,
        fps=row.fps,
        crf=row.crf,
        video_maxrate_kbps=row.video_maxrate_kbps,
        audio_bitrate_kbps=row.audio_bitrate_kbps,
        x264_preset=row.x264_preset,
        loudness_lufs=row.loudness_lufs,
        true_peak_db=row.true_peak_db,
    )


def export_preset_get(*, name: str) -> ExportPreset:
    row = ExportPreset.objects.filter(name=name, is_active=True).first()
    if row is None:
        known = ", ".join(
            ExportPreset.objects.filter(is_active=True).values_list("name", flat=True)
        )
        raise ApiError(
            422,
            "validation_error",
            f"unknown export preset '{name}' (known: {known})",
            [{"field": "preset", "msg": "unknown export preset"}],
        )
    return row


def clip_recipe(*, clip: Clip) -> ClipRecipe:
    """What the clip's content asks for: a TTS voice-over, burned subtitles and their style.
    Raises pydantic.ValidationError when the stored content is not renderable."""
    content = ClipContent.objects.filter(clip=clip).first()
    if content is None:
        return ClipRecipe()
    recipe: dict = {"subtitle_style": content.subtitle_settings or {}}
    if content.tts_text.strip():
        tts = {"text": content.tts_text}
        if content.tts_provider:
            tts["provider"] = content.tts_provider
        if content.voice:
            tts["voice"] = content.voice
        recipe["tts"] = tts
    if content.srt.strip():
        recipe["srt"] = content.srt
    return ClipRecipe.model_validate(recipe)


def clip_check_renderable(*, clip: Clip) -> None:
    """409 for a clip in the trash or without a video; 422 for content that cannot render."""
    if clip.in_trash:
        raise ApiError(409, "conflict", f"clip {clip.id} is in the trash; restore it first")
    if not clip.file:
        raise ApiError(409, "conflict", f"clip {clip.id} has no video file to render")
    try:
        clip_recipe(clip=clip)
    except pydantic.ValidationError as exc:
        details = [
            {"loc": ["content", *map(str, e["loc"])], "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ApiError(
            422, "validation_error", f"clip {clip.id}'s content cannot be rendered", details
        ) from None


def export_create(*, clip: Clip, preset: ExportPreset) -> Export:
    return Export.objects.create(clip=clip, preset=preset, status=Export.Status.QUEUED)


def export_for_job(*, export_id: int, owner_id) -> Export:
    export = (
        Export.objects.select_related("clip__project", "preset")
        .filter(id=export_id, clip__project__owner_id=owner_id)
        .first()
    )
    if export is None:
        raise LibraryRowGone(f"export {export_id} no longer exists")
    return export


def export_set_status(*, export: Export, status: str) -> None:
    """Rendering or failed: the export and its clip say so (completion is `export_finish`)."""
    Export.objects.filter(id=export.id).exclude(status=Export.Status.COMPLETED).update(
        status=status
    )
    clip_status = {
        Export.Status.RENDERING: Clip.RenderStatus.RENDERING,
        Export.Status.FAILED: Clip.RenderStatus.FAILED,
    }[status]
    Clip.objects.filter(id=export.clip_id).update(
        final_status=clip_status, updated_at=timezone.now()
    )


def export_finish(*, export: Export, output: Path) -> Export:
    """Copy the render into the export (the library owns it from now on), mark the export
    completed, the clip rendered, and count the export on the project."""
    with transaction.atomic():
        export = Export.objects.select_for_update().get(id=export.id)
        with output.open("rb") as fh:
            export.file.save(f"{output.stem}.mp4", File(fh), save=False)
        export.size = export.file.size
        export.status = Export.Status.COMPLETED
        export.completed_at = timezone.now()
        export.save()
        Clip.objects.filter(id=export.clip_id).update(
            final_status=Clip.RenderStatus.RENDERED, updated_at=timezone.now()
        )
        Project.objects.filter(clips__id=export.clip_id).update(
            exported_count=F("exported_count") + 1
        )
    return export


def export_latest(*, clip: Clip, completed: bool = False) -> Export | None:
    qs = clip.exports.select_related("job", "preset")
    if completed:
        qs = qs.filter(status=Export.Status.COMPLETED).exclude(file="")
    return qs.order_by("-created_at", "-id").first()


def export_effective_status(export: Export) -> str:
    """The export's status, corrected by its job: a job cancelled, rescued to failure or deleted
    before the handler could say so leaves the row queued/rendering."""
    if export.status in (Export.Status.COMPLETED, Export.Status.FAILED):
        return export.status
    job = export.job
    if job is None or job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        return Export.Status.FAILED
    if job.status == JobStatus.PROCESSING:
        return Export.Status.RENDERING
    return export.status
