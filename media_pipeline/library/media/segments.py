"""Segments of source videos: spans with keywords, listed, matched against SRT cues and cut
into their own file by a `segment_extract` job (whose end is `segment_extract_changed`)."""

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F

from core.errors import Invalid, NotFound
from jobs import services as job_services
from jobs.status import JobChange
from media_pipeline.library.errors import LibraryRowGone
from media_pipeline.library.media.sources import delete_file
from media_pipeline.library.models import Project, ProjectSegment, Segment, SourceVideo
from media_pipeline.ops.keyword_match import keyword_in, normalise

# Fuzzy threshold of SRT cue matching (rapidfuzz partial ratio), as in multi-video edits.
MATCH_THRESHOLD = 80.0
# A span may end this close past the probed duration (the probe rounds to milliseconds).
DURATION_TOLERANCE = 0.001


def _check_span(start: float, end: float, duration: float | None) -> None:
    if end <= start:
        raise Invalid(
            f"end ({end}) must be after start ({start})",
            [{"field": "end", "msg": "must be after start"}],
        )
    if duration is not None and end > duration + DURATION_TOLERANCE:
        raise Invalid(
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
        delete_file(segment.extracted_file)
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
    files = delete_file(segment.extracted_file)
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
        raise NotFound(f"segments not found: {missing}", [{"segment_ids": missing}])
    return [found[i] for i in segment_ids]


def project_segments_assign(*, project: Project, segment_ids: list[int]) -> list[Segment]:
    """Make these of the owner's segments (repeats dropped) the project's assigned segments, in
    this order, replacing the earlier assignment; 404 naming the ids that are not theirs."""
    ids = list(dict.fromkeys(segment_ids))
    segments = segments_for_project(owner=project.owner, segment_ids=ids)
    with transaction.atomic():
        ProjectSegment.objects.filter(project=project).delete()
        ProjectSegment.objects.bulk_create(
            ProjectSegment(project=project, segment=s, position=n) for n, s in enumerate(segments)
        )
    return segments


def project_segments(*, project: Project) -> list[Segment]:
    """The project's assigned segments in their order (a deleted segment drops out)."""
    assigned = ProjectSegment.objects.filter(project=project).select_related(
        "segment__source_video"
    )
    return [a.segment for a in assigned.order_by("position")]


def segment_for_job(*, segment_id: int, owner_id) -> Segment:
    segment = Segment.objects.filter(id=segment_id, owner_id=owner_id).first()
    if segment is None:
        raise LibraryRowGone(f"segment {segment_id} no longer exists")
    return segment


def segment_extract_changed(job, change: str) -> None:
    """`segment_extract`'s on_change: once the job completes, its cut becomes the segment's
    extracted file (an older one is deleted after commit). Refused when the segment was deleted
    or its span changed while the job ran: the job then fails and its cut is discarded."""
    if change != JobChange.COMPLETED:
        return
    segment_id = job.params["segment_id"]
    segment = segment_for_job(segment_id=segment_id, owner_id=job.owner_id)
    cut = (job.result or {}).get("start"), (job.result or {}).get("end")
    if (segment.start, segment.end) != cut:
        raise LibraryRowGone(f"segment {segment_id} changed while it was being extracted")
    old = segment.extracted_file.name
    segment.extracted_file.name = job_services.job_files_adopt(job_id=job.id, label="segment")
    segment.save(update_fields=["extracted_file"])
    if old:
        transaction.on_commit(lambda: default_storage.delete(old))
