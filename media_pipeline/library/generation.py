"""Starting a project's generation (a `project_generate` job), shared by the v1 endpoints and the
web frontend's routes: from a video (an upload, which becomes a library source video, one of the
user's source videos, or another of their stored videos) or from segments (the given ones, or
the segments assigned to the project). The project is claimed, the job created and linked in
one transaction; the job's hook moves the project on from there (`projects`)."""

import secrets

from django.db import transaction

from core.errors import Conflict, Invalid
from jobs.models import Job
from media_pipeline.library import media as library_media
from media_pipeline.library.models import Project, SourceVideo
from media_pipeline.library.projects import project_attach_job, project_claim_generation
from media_pipeline.library.starts import job_start
from media_pipeline.library.uploads import validate_media_upload
from media_pipeline.ops.voice_mute import VoiceMuteParams


def project_require_idle(*, project: Project) -> None:
    """409 before any upload is stored (the claim in the transaction is the real guard)."""
    if project.status == Project.Status.GENERATING:
        raise Conflict("the project is already generating clips")


def _start(*, owner, project, params: dict, shared: dict, video=None) -> Job:
    with transaction.atomic():
        project_claim_generation(project=project)
        job = job_start(
            owner=owner,
            job_type="project_generate",
            params={"project_id": project.id, **params},
            shared_inputs=shared,
        )
        project_attach_job(project=project, job_id=job.id, source_video=video)
    return job


def _options(voice_mute: VoiceMuteParams | None, tts_text: str | None) -> dict:
    options = {}
    if voice_mute is not None:
        options["voice_mute"] = voice_mute.model_dump()
    if tts_text is not None:
        options["tts_text"] = tts_text
    return options


def project_generate_from_video(
    *,
    owner,
    project: Project,
    variant_count: int,
    target_duration: float | None = None,
    upload=None,
    upload_field: str = "file",
    source_video: SourceVideo | None = None,
    stored_name: str | None = None,
    voice_mute: VoiceMuteParams | None = None,
) -> Job:
    """Generate from exactly one of: an `upload` (checked, then stored as a new source video of
    the owner's; removed again when the job cannot start), a `source_video` of theirs, or
    `stored_name`, a stored video of theirs the caller resolved (a clip's file)."""
    project_require_idle(project=project)
    created = False
    if upload is not None:
        info = validate_media_upload(upload, field=upload_field, need_video=True)
        source_video = library_media.source_video_create(owner=owner, upload=upload, info=info)
        created = True
    name = source_video.file.name if source_video is not None else stored_name
    params = {
        "variant_count": variant_count,
        "target_duration": target_duration or project.target_duration,
        **_options(voice_mute, None),
    }
    try:
        return _start(
            owner=owner, project=project, params=params, shared={"source": name}, video=source_video
        )
    except BaseException:
        if created:  # nothing was started: the upload must not stay behind
            library_media.source_video_delete(video=source_video)
        raise


def project_generate_from_segments(
    *,
    owner,
    project: Project,
    variant_count: int,
    order: str,
    segment_ids: list[int] | None = None,
    target_duration: float | None = None,
    voice_mute: VoiceMuteParams | None = None,
    tts_text: str | None = None,
) -> Job:
    """Clips assembled from the owner's segments, the given ones (404 naming those that are not
    theirs) or, with `segment_ids` None, those assigned to the project (422 when there are
    none), in `order`. The seed is kept in the params: a retry makes the same clips."""
    project_require_idle(project=project)
    if segment_ids is None:
        segments = library_media.project_segments(project=project)
        if not segments:
            raise Invalid.field(
                "segment_ids", "no segment_ids given and no segments are assigned to the project"
            )
    else:
        ids = list(dict.fromkeys(segment_ids))
        segments = library_media.segments_for_project(owner=owner, segment_ids=ids)
    spans = [
        {"source": f"source_{s.source_video_id}", "start": s.start, "end": s.end,
         "score": s.score or 0.0, "segment_id": s.id}
        for s in segments
    ]  # fmt: skip
    shared = {f"source_{s.source_video_id}": s.source_video.file.name for s in segments}
    params = {
        "variant_count": variant_count,
        "target_duration": target_duration or project.target_duration,
        "segments": spans,
        "order": order,
        "seed": secrets.randbelow(2**31),
        **_options(voice_mute, tts_text),
    }
    return _start(owner=owner, project=project, params=params, shared=shared)
