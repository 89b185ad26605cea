"""Services of the library's projects and clips.

A project's status follows its generation job: `generating` while the job is queued or running,
`ready_for_triage` once the job stored its clips, `failed` when the job failed for good (or was
deleted), back to `draft` (or `ready_for_triage` when earlier clips exist) when it was cancelled.
The job engine knows nothing about projects, so the status is reconciled from the job on read
(`projects_sync_status`, a conditional update per row) before any answer or status change.

`variants_count` and `selected_count` count the project's clips outside the trash; they are
recomputed (never incremented) after every change. A segment's `usage_count` is the number of
clips built from it: raised when the clips are stored, lowered when they are deleted for good.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone

from jobs import services as job_services
from jobs.errors import IllegalTransition, PermanentJobError
from jobs.models import Job
from jobs.status import ACTIVE, JobStatus
from media_pipeline.library.models import Clip, ClipContent, Project, Segment, SourceVideo

logger = logging.getLogger(__name__)
Status = Project.Status


# --- projects -----------------------------------------------------------------------------------
def project_create(*, owner, **fields) -> Project:
    return Project.objects.create(owner=owner, **fields)


def project_update(*, project: Project, **fields) -> Project:
    for name, value in fields.items():
        setattr(project, name, value)
    project.save(update_fields=[*fields, "updated_at"])
    return project


def _idle_status(project_id) -> str:
    """Where a project rests when no generation runs: ready when it has live clips."""
    alive = Clip.objects.filter(project_id=project_id, deleted_at__isnull=True)
    return Status.READY_FOR_TRIAGE if alive.exists() else Status.DRAFT


def _settled(project: Project) -> tuple[str, str]:
    """(status, error) of a `generating` project whose job is no longer active."""
    job = project.current_job
    if job is None:
        return Status.FAILED, "the generation job was deleted"
    if job.status == JobStatus.FAILED:
        return Status.FAILED, job.error or "the generation failed"
    if job.status == JobStatus.CANCELLED:
        return _idle_status(project.id), "the generation was cancelled"
    return Status.FAILED, "the generation job ended without storing clips"


def projects_sync_status(*, queryset) -> None:
    """Bring the projects of `queryset` in line with their current job (see the module doc)."""
    now = timezone.now()
    stale = queryset.filter(status=Status.GENERATING).exclude(current_job__status__in=ACTIVE)
    for project in stale.select_related("current_job"):
        status, error = _settled(project)
        Project.objects.filter(
            id=project.id, status=Status.GENERATING, current_job_id=project.current_job_id
        ).update(status=status, error=error, updated_at=now)
    # A failed job retried through the jobs API: the project generates again. (A cancelled
    # generation stays cancelled: the user chose that, and a ready project's job may still be
    # finishing after it stored its clips.)
    queryset.filter(status=Status.FAILED, current_job__status__in=ACTIVE).update(
        status=Status.GENERATING, error="", updated_at=now
    )


def project_synced(project: Project) -> Project:
    projects_sync_status(queryset=Project.objects.filter(id=project.id))
    project.refresh_from_db()
    return project


def project_claim_generation(*, project: Project) -> None:
    """Any status but generating -> generating (inside the caller's transaction); 409 otherwise."""
    projects_sync_status(queryset=Project.objects.filter(id=project.id))
    claimed = (
        Project.objects.filter(id=project.id)
        .exclude(status=Status.GENERATING)
        .update(status=Status.GENERATING, error="", updated_at=timezone.now())
    )
    if not claimed:
        raise IllegalTransition(
            "the project is already generating clips: wait for it or cancel it first"
        )


def project_attach_job(*, project: Project, job_id, source_video: SourceVideo | None) -> None:
    fields = {"current_job_id": job_id, "updated_at": timezone.now()}
    if source_video is not None:
        fields["source_video"] = source_video
    Project.objects.filter(id=project.id).update(**fields)


def project_cancel_generation(*, project: Project) -> Project:
    """Cancel the running generation: the project goes back to draft (or ready_for_triage when
    it has clips from an earlier generation). 409 when it is not generating."""
    with transaction.atomic():
        project_synced(project)
        settled = _idle_status(project.id)
        flipped = Project.objects.filter(
            id=project.id, status=Status.GENERATING, current_job_id=project.current_job_id
        ).update(status=settled, error="the generation was cancelled", updated_at=timezone.now())
        if not flipped:
            raise IllegalTransition(f"the project is not generating (it is {project.status})")
        if project.current_job is not None:
            job_services.job_cancel(job=project.current_job)  # a finished job: 409, rolled back
    project.refresh_from_db()
    return project


def project_delete(*, project: Project) -> int:
    """Delete the project, its clips and their files; refused (409) while it is generating.
    Returns the number of clips deleted."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=project_synced(project).id)
        if project.status == Status.GENERATING:
            raise IllegalTransition(
                "the project is generating clips: cancel the generation first (POST .../cancel)"
            )
        clips = list(project.clips.prefetch_related("exports"))
        names = [name for clip in clips for name in _files_of(clip)]
        _release_segments(clips)
        project.delete()
        transaction.on_commit(lambda: _delete_stored(names))
    return len(clips)


def project_progress(project: Project) -> dict:
    job = project.current_job
    done = project.status == Status.READY_FOR_TRIAGE
    return {
        "status": project.status,
        "job_id": job.id if job else None,
        "job_status": job.status if job else None,
        "percentage": (job.progress if job else 0.0) if not done else 100.0,
        "current_step": (job.stage_label or job.stage) if job else "",
        "estimated_remaining": job.eta_seconds if job else None,
        "error": project.error,
    }


def project_refresh_counts(*, project_id) -> None:
    alive = Clip.objects.filter(project_id=project_id, deleted_at__isnull=True)
    Project.objects.filter(id=project_id).update(
        variants_count=alive.count(), selected_count=alive.filter(is_selected=True).count()
    )


# --- source videos ------------------------------------------------------------------------------
# --- what a generation job stores ---------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedClip:
    video: Path
    thumbnail: Path
    duration: float
    segments: list[dict]  # [{start, end, segment_id?}]


def project_store_generated(*, project_id, job_id, clips: list[GeneratedClip]) -> list[int]:
    """Copy a generation's renders into new clips and mark the project ready, in one transaction.
    Refused (a permanent job error) when the project was deleted, cancelled or regenerated."""
    saved: list[str] = []
    try:
        with transaction.atomic():
            projects_sync_status(queryset=Project.objects.filter(id=project_id))
            if not Project.objects.filter(
                id=project_id, status=Status.GENERATING, current_job_id=job_id
            ).update(status=Status.READY_FOR_TRIAGE, error="", updated_at=timezone.now()):
                raise PermanentJobError(
                    "the project was deleted, cancelled or regenerated meanwhile: clips not stored"
                )
            first = Clip.objects.filter(project_id=project_id).aggregate(n=Max("variant_index"))
            start = (first["n"] or 0) + 1
            ids = [
                _store_clip(project_id, start + n, generated, saved)
                for n, generated in enumerate(clips)
            ]
            _use_segments([c.segments for c in clips], +1)
            project_refresh_counts(project_id=project_id)
    except BaseException:
        _delete_stored(saved)  # the rows were rolled back: their files must go too
        raise
    return ids


def _store_clip(project_id, index: int, generated: GeneratedClip, saved: list[str]) -> int:
    clip = Clip(
        project_id=project_id,
        variant_index=index,
        variant_name=f"Variant {index}",
        duration=generated.duration,
        segments=generated.segments,
    )
    for field, path, name in (
        (clip.file, generated.video, "clip.mp4"),
        (clip.thumbnail, generated.thumbnail, "thumbnail.jpg"),
    ):
        with path.open("rb") as fh:
            field.save(name, File(fh), save=False)
        saved.append(field.name)
    clip.save()
    return clip.id


def _use_segments(segment_lists: list[list[dict]], delta: int) -> None:
    """Each clip counts once for every segment it uses."""
    counts = Counter(
        sid
        for segments in segment_lists
        for sid in {s.get("segment_id") for s in segments}
        if sid is not None
    )
    for sid, n in counts.items():
        Segment.objects.filter(id=sid).update(usage_count=Greatest(F("usage_count") + delta * n, 0))


def _release_segments(clips: list[Clip]) -> None:
    _use_segments([clip.segments or [] for clip in clips], -1)


# --- clips --------------------------------------------------------------------------------------
def _require_alive(clip: Clip) -> None:
    if clip.in_trash:
        raise IllegalTransition(f"clip {clip.id} is in the trash: restore it before changing it")


def clip_update(*, clip: Clip, **fields) -> Clip:
    _require_alive(clip)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(clip, name, value)
        clip.save(update_fields=[*fields, "updated_at"])
        project_refresh_counts(project_id=clip.project_id)
    return clip


def clips_bulk_select(*, clips: list[Clip], selected: bool) -> int:
    for clip in clips:
        _require_alive(clip)
    with transaction.atomic():
        updated = Clip.objects.filter(id__in=[c.id for c in clips]).update(
            is_selected=selected, updated_at=timezone.now()
        )
        for project_id in {c.project_id for c in clips}:
            project_refresh_counts(project_id=project_id)
    return updated


def clip_trash(*, clip: Clip) -> Clip:
    """Move to the trash (restorable); trashing a trashed clip changes nothing."""
    if not clip.in_trash:
        with transaction.atomic():
            clip.deleted_at = timezone.now()
            clip.save(update_fields=["deleted_at", "updated_at"])
            project_refresh_counts(project_id=clip.project_id)
    return clip


def clip_restore(*, clip: Clip) -> Clip:
    if not clip.in_trash:
        raise IllegalTransition(f"clip {clip.id} is not in the trash")
    with transaction.atomic():
        clip.deleted_at = None
        clip.save(update_fields=["deleted_at", "updated_at"])
        project_refresh_counts(project_id=clip.project_id)
    return clip


def clip_delete_permanently(*, clip: Clip) -> None:
    """Delete the clip for good with its files (and its exports' files)."""
    with transaction.atomic():
        names = _files_of(clip)
        _release_segments([clip])
        project_id = clip.project_id
        clip.delete()
        project_refresh_counts(project_id=project_id)
        transaction.on_commit(lambda: _delete_stored(names))


def clip_content_set(*, clip: Clip, **fields) -> ClipContent:
    """Replace the clip's content (the caller validated it)."""
    _require_alive(clip)
    content, _ = ClipContent.objects.update_or_create(clip=clip, defaults=fields)
    return content


CONTENT_FIELDS = ("tts_text", "tts_provider", "voice", "srt", "subtitle_settings")


def clip_content_copy(*, target: Clip, source: Clip) -> ClipContent:
    source_content = ClipContent.objects.filter(clip=source).first()
    fields = (
        {name: getattr(source_content, name) for name in CONTENT_FIELDS} if source_content else {}
    )
    defaults = {"tts_text": "", "tts_provider": "", "voice": "", "srt": "", "subtitle_settings": {}}
    return clip_content_set(clip=target, **{**defaults, **fields})


def clip_audio_removal_running(*, clip: Clip) -> bool:
    return Job.objects.filter(
        job_type="clip_remove_audio", params__clip_id=clip.id, status__in=ACTIVE
    ).exists()


def clip_replace_file(*, clip_id, owner_id, video: Path) -> None:
    """Swap the clip's file for `video` (a job's output); the old file is deleted after commit."""
    with transaction.atomic():
        clip = (
            Clip.objects.select_for_update().filter(id=clip_id, project__owner_id=owner_id).first()
        )
        if clip is None:
            raise PermanentJobError(f"clip {clip_id} no longer exists")
        old = clip.file.name
        with video.open("rb") as fh:
            clip.file.save("clip.mp4", File(fh), save=False)
        new = clip.file.name
        try:
            clip.save(update_fields=["file", "updated_at"])
        except BaseException:
            _delete_stored([new])
            raise
        transaction.on_commit(lambda: _delete_stored([old] if old else []))


# --- files --------------------------------------------------------------------------------------
def _files_of(clip: Clip) -> list[str]:
    names = [f.name for f in (clip.file, clip.thumbnail) if f]
    return names + [export.file.name for export in clip.exports.all() if export.file]


def _delete_stored(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:  # a file already gone or unreachable must not undo the deletion
            logger.warning("could not delete stored file %s", name, exc_info=True)
