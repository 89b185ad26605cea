"""Exports: a clip rendered in an export preset by a `clip_render` job. The export and its clip
follow the job (`export_render_changed`, called in the same transaction as each change of the
job's status): queued, rendering (also while an attempt waits to be retried), completed with
its file, or failed."""

import pydantic
from django.db import transaction
from django.db.models import F, JSONField, OuterRef, Subquery
from django.utils import timezone

from core.errors import Conflict, Invalid
from jobs import services as job_services
from jobs.models import Job
from jobs.status import JobChange
from media_pipeline.jobtypes.render_clip import ClipRecipe
from media_pipeline.library.errors import LibraryRowGone
from media_pipeline.library.media.render_options import (
    RenderOptions,
    recipe_fields,
    render_options_check,
    render_options_resolve,
)
from media_pipeline.library.models import Clip, ClipContent, Export, ExportPreset, Project
from media_pipeline.library.starts import job_start
from media_pipeline.ops.presets import DEFAULT_PRESET, Preset


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


def export_preset_get(*, name: str, field: str = "preset") -> ExportPreset:
    """The active preset of that name; 422 naming `field` (the caller's name for it) if none."""
    row = ExportPreset.objects.filter(name=name, is_active=True).first()
    if row is None:
        known = ", ".join(
            ExportPreset.objects.filter(is_active=True).values_list("name", flat=True)
        )
        raise Invalid(
            f"'{field}': unknown export preset '{name}' (known: {known})",
            [{"field": field, "msg": "unknown export preset"}],
        )
    return row


def export_preset_default() -> ExportPreset | None:
    """The preset a render uses when none is named: the active row marked default, else the
    active `instagram_reels` (the shipped default), else none."""
    active = ExportPreset.objects.filter(is_active=True)
    return active.filter(is_default=True).first() or active.filter(name=DEFAULT_PRESET).first()


def export_preset_set_default(*, preset: ExportPreset) -> ExportPreset:
    """Make `preset` the one default (the mark moves from any other row)."""
    with transaction.atomic():
        ExportPreset.objects.filter(is_default=True).exclude(id=preset.id).update(is_default=False)
        ExportPreset.objects.filter(id=preset.id).update(is_default=True)
    preset.is_default = True
    return preset


def clip_renders_start(
    *, owner, clips: list[Clip], preset: ExportPreset, options: RenderOptions | None = None
) -> list[tuple[Export, Job]]:
    """An Export row and a `clip_render` job for each clip, all or nothing: every clip is
    checked first (409 in the trash or without a file, 422 for content that cannot render or
    an option it cannot honour). `options` are the request's (`render_options`; none given:
    the preset's)."""
    decided = render_options_resolve(asked=options, preset=preset)
    for clip in clips:
        clip_check_renderable(clip=clip, options=decided)
        render_options_check(clip=clip, asked=options)
    started = []
    with transaction.atomic():
        for clip in clips:
            export = export_create(clip=clip, preset=preset, options=decided)
            job = job_start(
                owner=owner,
                job_type="clip_render",
                params={"export_id": export.id},
                shared_inputs={"source": clip.file.name},
            )
            export.job = job
            export.save(update_fields=["job"])
            started.append((export, job))
    return started


def clip_recipe(*, clip: Clip, options: dict | None = None) -> ClipRecipe:
    """What the clip's content asks for (a TTS voice-over, burned subtitles and their style)
    with an export's render `options` (`render_options`). Raises pydantic.ValidationError when
    the stored content is not renderable."""
    content = ClipContent.objects.filter(clip=clip).first()
    recipe = recipe_fields(
        options=options, content_style=content.subtitle_settings if content else None
    )
    if content is None:
        return ClipRecipe.model_validate(recipe)
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


def clip_check_renderable(*, clip: Clip, options: dict | None = None) -> None:
    """409 for a clip in the trash or without a video; 422 for content that cannot render
    (with the render's `options`)."""
    if clip.in_trash:
        raise Conflict(f"clip {clip.id} is in the trash; restore it first")
    if not clip.file:
        raise Conflict(f"clip {clip.id} has no video file to render")
    try:
        clip_recipe(clip=clip, options=options)
    except pydantic.ValidationError as exc:
        details = [
            {"loc": ["content", *map(str, e["loc"])], "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise Invalid(f"clip {clip.id}'s content cannot be rendered", details) from None


def export_create(*, clip: Clip, preset: ExportPreset, options: dict | None = None) -> Export:
    return Export.objects.create(
        clip=clip, preset=preset, status=Export.Status.QUEUED, options=options or {}
    )


def export_for_job(*, export_id: int, owner_id) -> Export:
    export = (
        Export.objects.select_related("clip__project", "preset")
        .filter(id=export_id, clip__project__owner_id=owner_id)
        .first()
    )
    if export is None:
        raise LibraryRowGone(f"export {export_id} no longer exists")
    return export


# What the export and its clip say after each change of their render job.
_EXPORT_STATUS = {
    JobChange.QUEUED: (Export.Status.QUEUED, Clip.RenderStatus.RENDERING),
    JobChange.PROCESSING: (Export.Status.RENDERING, Clip.RenderStatus.RENDERING),
    # an attempt failed (or its worker was lost) and another one follows: still rendering
    JobChange.RETRYING: (Export.Status.RENDERING, Clip.RenderStatus.RENDERING),
    JobChange.FAILED: (Export.Status.FAILED, Clip.RenderStatus.FAILED),
    JobChange.CANCELLED: (Export.Status.FAILED, Clip.RenderStatus.FAILED),
    JobChange.DELETED: (Export.Status.FAILED, Clip.RenderStatus.FAILED),
}


def export_render_changed(job, change: str) -> None:
    """`clip_render`'s on_change (see the module doc). On completion the render, stored by the
    job under a library name, is adopted by the export; the clip is rendered and the project
    counts one more export. Refused when the export is gone (the job then fails)."""
    export_id = job.params["export_id"]
    exports = Export.objects.filter(id=export_id, clip__project__owner_id=job.owner_id)
    if change == JobChange.COMPLETED:
        _export_complete(job, exports.first(), export_id)
        return
    export_status, clip_status = _EXPORT_STATUS[change]
    export = exports.exclude(status=Export.Status.COMPLETED).first()
    if export is not None:
        Export.objects.filter(id=export.id).update(status=export_status)
        Clip.objects.filter(id=export.clip_id).update(
            final_status=clip_status, updated_at=timezone.now()
        )


def _export_complete(job, export: Export | None, export_id: int) -> None:
    if export is None:
        raise LibraryRowGone(f"export {export_id} no longer exists")
    now = timezone.now()
    export.file.name = job_services.job_files_adopt(job_id=job.id, label="export")
    export.size = export.file.size
    export.status = Export.Status.COMPLETED
    export.completed_at = now
    export.save(update_fields=["file", "size", "status", "completed_at"])
    Clip.objects.filter(id=export.clip_id).update(
        final_status=Clip.RenderStatus.RENDERED, updated_at=now
    )
    Project.objects.filter(clips__id=export.clip_id).update(exported_count=F("exported_count") + 1)


def export_latest(*, clip: Clip, completed: bool = False) -> Export | None:
    qs = clip.exports.select_related("job", "preset")
    if completed:
        qs = qs.filter(status=Export.Status.COMPLETED).exclude(file="")
    return qs.order_by("-created_at", "-id").first()


def clips_with_render_voiceover(clips):
    """Clips annotated with the job result of their latest completed render, for
    `clip_render_voiceover` to read without a query per clip (lists)."""
    latest = (
        Export.objects.filter(clip=OuterRef("pk"), status=Export.Status.COMPLETED)
        .exclude(file="")
        .order_by("-created_at", "-id")
    )
    return clips.annotate(
        last_render_result=Subquery(latest.values("job__result")[:1], output_field=JSONField())
    )


def clip_render_voiceover(clip: Clip) -> dict | None:
    """How the clip's latest completed render spoke its voice-over: its job result's `voiceover`
    (the provider that spoke, the one asked for, the voice, the fallback and its notice). None
    without a completed render or without a voice-over."""
    if hasattr(clip, "last_render_result"):
        result = clip.last_render_result
    else:
        export = export_latest(clip=clip, completed=True)
        result = export.job.result if export is not None and export.job is not None else None
    voiceover = result.get("voiceover") if isinstance(result, dict) else None
    return voiceover if isinstance(voiceover, dict) else None
