"""Services of the library's projects and clips.

A project's status follows its generation job, in the same transaction as each change of the
job's status (`project_generation_changed`, the `project_generate` type's on_change hook):
`generating` from the claim of the generation until the job ends; `ready_for_triage` when it
completes (its clips are stored then); `failed` when it fails for good or is deleted while
running; back to `draft` (or `ready_for_triage` when earlier clips exist) when it is cancelled;
`generating` again when a failed generation is retried.

`variants_count` and `selected_count` count the project's clips outside the trash; they are
recomputed (never incremented) after every change. A segment's `usage_count` is the number of
clips built from it: raised when the clips are stored, lowered when they are deleted for good.
"""

import logging
from collections import Counter

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone

from core.errors import Conflict
from jobs import services as job_services
from jobs.models import Job
from jobs.status import ACTIVE, JobChange, JobStatus
from media_pipeline.library.errors import LibraryRowGone
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


def project_claim_generation(*, project: Project) -> None:
    """Any status but generating -> generating (inside the caller's transaction); 409 otherwise."""
    claimed = (
        Project.objects.filter(id=project.id)
        .exclude(status=Status.GENERATING)
        .update(status=Status.GENERATING, error="", updated_at=timezone.now())
    )
    if not claimed:
        raise Conflict("the project is already generating clips: wait for it or cancel it first")


def project_attach_job(*, project: Project, job_id, source_video: SourceVideo | None) -> None:
    fields = {"current_job_id": job_id, "updated_at": timezone.now()}
    if source_video is not None:
        fields["source_video"] = source_video
    Project.objects.filter(id=project.id).update(**fields)


def project_cancel_generation(*, project: Project) -> Project:
    """Cancel the running generation: the project goes back to draft (or ready_for_triage when
    it has clips from an earlier generation). 409 when it is not generating."""
    if project.status != Status.GENERATING:
        raise Conflict(f"the project is not generating (it is {project.status})")
    if project.current_job is not None:
        job_services.job_cancel(job=project.current_job)  # the hook settles the project
    else:  # its job row is gone: nothing to stop
        Project.objects.filter(id=project.id, status=Status.GENERATING).update(
            status=_idle_status(project.id), error=CANCELLED, updated_at=timezone.now()
        )
    project.refresh_from_db()
    return project


def project_delete(*, project: Project) -> int:
    """Delete the project, its clips and their files; refused (409) while it is generating.
    Returns the number of clips deleted."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=project.id)
        if project.status == Status.GENERATING:
            raise Conflict(
                "the project is generating clips: cancel the generation first (POST .../cancel)"
            )
        clips = list(project.clips.prefetch_related("exports"))
        names = [name for clip in clips for name in _files_of(clip)]
        _release_segments(clips)
        project.delete()
        transaction.on_commit(lambda: _delete_stored(names))
    return len(clips)


def project_reset(*, project: Project) -> Project:
    """Back to draft for a new generation, forgetting the last one's job and error: only for a
    project with no live clips that is neither draft nor generating (409 otherwise). (Generating
    again also works from any status but generating; this is the frontend's explicit reset.)"""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=project.id)
        if project.status in (Status.DRAFT, Status.GENERATING):
            raise Conflict(f"the project is {project.status}: there is nothing to reset")
        if Clip.objects.filter(project_id=project.id, deleted_at__isnull=True).exists():
            raise Conflict("the project has clips: delete them before resetting it")
        project.status, project.error, project.current_job = Status.DRAFT, "", None
        project.save(update_fields=["status", "error", "current_job", "updated_at"])
    return project


REUSE_FIELDS = ("reused_segments", "shared_time", "shared_seconds", "note")


def project_generation_reuse(project: Project) -> dict | None:
    """Whether and where the clips of the project's generation (its current job) share source
    time, once it completed (the `project_generate` result's reuse fields); else None."""
    job = project.current_job
    if job is None or job.status != JobStatus.COMPLETED or "reused_segments" not in job.result:
        return None
    return {key: job.result.get(key) for key in REUSE_FIELDS}


def project_progress(project: Project) -> dict:
    job = project.current_job
    done = project.status == Status.READY_FOR_TRIAGE
    return {
        "reuse": project_generation_reuse(project),
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


# --- the generation job -------------------------------------------------------------------------
CANCELLED = "the generation was cancelled"
GONE = "the project was deleted, cancelled or regenerated meanwhile: clips not stored"


def project_generation_changed(job, change: str) -> None:
    """`project_generate`'s on_change hook (see the module doc). Only the project's current
    generation moves it; on completion the clips are stored, or the completion is refused."""
    generating = Project.objects.filter(
        id=job.params["project_id"], current_job_id=job.id, status=Status.GENERATING
    )
    now = timezone.now()
    if change == JobChange.COMPLETED:
        if not generating.exists():
            raise LibraryRowGone(GONE)
        _store_generated(job)
    elif change == JobChange.FAILED:
        generating.update(
            status=Status.FAILED, error=job.error or "the generation failed", updated_at=now
        )
    elif change == JobChange.DELETED:
        generating.update(
            status=Status.FAILED, error="the generation job was deleted", updated_at=now
        )
    elif change == JobChange.CANCELLED:
        project_id = job.params["project_id"]
        generating.update(status=_idle_status(project_id), error=CANCELLED, updated_at=now)
    elif change == JobChange.QUEUED:
        # A failed generation retried through the jobs API generates again. (A cancelled one
        # stays cancelled: the user chose that.)
        Project.objects.filter(
            id=job.params["project_id"], current_job_id=job.id, status=Status.FAILED
        ).update(status=Status.GENERATING, error="", updated_at=now)


def _store_generated(job) -> None:
    """The job's renders, stored under library names, become new clips; the project is ready.
    The job's result then names the clips instead of its files."""
    project_id = job.params["project_id"]
    planned = job.result["clips"]
    first = Clip.objects.filter(project_id=project_id).aggregate(n=Max("variant_index"))
    start = (first["n"] or 0) + 1
    ids = [_store_clip(job, project_id, start + n, clip) for n, clip in enumerate(planned)]
    tts_text = job.params.get("tts_text")
    if tts_text:  # the script the generation was given: rendering each clip voices it
        ClipContent.objects.bulk_create(ClipContent(clip_id=i, tts_text=tts_text) for i in ids)
    _use_segments([clip["segments"] for clip in planned], +1)
    Project.objects.filter(id=project_id).update(
        status=Status.READY_FOR_TRIAGE, error="", updated_at=timezone.now()
    )
    project_refresh_counts(project_id=project_id)
    result = {k: v for k, v in job.result.items() if k != "clips"}
    if result.get("shared_time"):  # the variant numbers are the clips' order: name the clips
        result["shared_time"] = [
            {**shared, "clip_ids": [ids[n - 1] for n in shared["variants"]]}
            for shared in result["shared_time"]
        ]
    job.result = {**result, "clip_ids": ids}
    job.save(update_fields=["result"])


def _store_clip(job, project_id, index: int, planned: dict) -> int:
    clip = Clip(
        project_id=project_id,
        variant_index=index,
        variant_name=f"Variant {index}",
        duration=planned["duration"],
        segments=planned["segments"],
        has_audio=planned.get("has_audio"),
    )
    clip.file.name = job_services.job_files_adopt(job_id=job.id, label=planned["video"])
    clip.thumbnail.name = job_services.job_files_adopt(job_id=job.id, label=planned["thumbnail"])
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
        raise Conflict(f"clip {clip.id} is in the trash: restore it before changing it")


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
        raise Conflict(f"clip {clip.id} is not in the trash")
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


def clip_audio_removed(job, change: str) -> None:
    """`clip_remove_audio`'s on_change: once the job completes, its silent video becomes the
    clip's file (the old one is deleted after commit). Refused when the clip is gone."""
    if change != JobChange.COMPLETED:
        return
    clip_id = job.params["clip_id"]
    clip = Clip.objects.filter(id=clip_id, project__owner_id=job.owner_id).first()
    if clip is None:
        raise LibraryRowGone(f"clip {clip_id} no longer exists")
    old = clip.file.name
    clip.file.name = job_services.job_files_adopt(job_id=job.id, label="video")
    clip.has_audio = False
    clip.save(update_fields=["file", "has_audio", "updated_at"])
    if old:
        transaction.on_commit(lambda: _delete_stored([old]))


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
