"""Form inputs of the multipart job endpoints: the `params` JSON field, the callback URL and the
job options (run_at, metadata, webhook_progress), lists of videos (uploads or library source
videos) and audio uploads. Each check answers a 4xx in the one
error shape, and the cheap checks run before any upload is probed."""

import json

import pydantic

from core.apierrors import ApiError
from jobs import options
from jobs.errors import InvalidJobParams
from jobs.registry import get_job_type
from jobs.webhook_urls import validate_callback_url
from media_pipeline.library.api.common import JobOptions, owned
from media_pipeline.library.models import SourceVideo
from media_pipeline.library.uploads import validate_media_upload

PARAMS_HELP = (
    "Job parameters go in one form field, `params`: a JSON object validated against the job "
    "type's schema (omitted = the defaults). Invalid params are a 422 whose details give the "
    "field path, e.g. `params.variant_count`."
)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", message, [{"field": field}])


def job_params(job_type: str, raw: str | None, **fixed) -> pydantic.BaseModel:
    """The `params` form field merged with values the endpoint decides (`fixed`), validated
    against the job type's schema now, so a bad request never waits for a probe. The parsed
    params go to `job_create` as they are: they are validated once."""
    params: dict = {}
    if raw is not None and raw.strip():
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _invalid("params", f"'params' is not valid JSON: {exc.msg}") from None
        if not isinstance(params, dict):
            raise _invalid("params", "'params' must be a JSON object")
    for key, value in fixed.items():
        if key in params and params[key] != value:
            raise _invalid(f"params.{key}", f"'params.{key}' must be {value!r} here (or omitted)")
        params[key] = value
    try:
        return get_job_type(job_type).parse_params(params)
    except InvalidJobParams as exc:  # -> 422; add the dotted path our other errors carry
        for detail in exc.details:
            detail.setdefault("field", ".".join(detail.get("loc", [])))
        raise


def callback(url: str | None) -> str | None:
    """The engine's own check (http(s), public address), run before any upload is probed;
    InvalidCallbackUrl is a 422 naming `callback_url`."""
    return validate_callback_url(url) or None


OPTIONS_HELP = (
    "Optional job options: `run_at` (ISO 8601 with a zone, at most a year ahead: the job stays "
    "`queued` until then), `metadata` (a JSON object of at most 4 KB, echoed in the job and its "
    "webhooks), `webhook_progress` (true: job.progress webhooks too; needs `callback_url`). "
    "An `Idempotency-Key` header makes a repeat of the request answer the same job (200)."
)


def job_options(*, run_at, metadata, webhook_progress, callback_url) -> JobOptions:
    """A request's job options, checked before any upload is probed (422 naming the field).
    `metadata` is a JSON object, or its JSON text (a form field)."""
    return JobOptions(
        run_at=options.validate_run_at(run_at),
        metadata=options.parse_metadata(metadata)
        if isinstance(metadata, str)
        else options.validate_metadata(metadata),
        webhook_progress=options.validate_webhook_progress(bool(webhook_progress), callback_url),
    )


def count_videos(files, source_video_ids, *, files_field: str, ids_field: str, most: int) -> int:
    """How many videos a list pair gives; exactly one of the two lists, 1..`most` entries."""
    files, ids = files or [], source_video_ids or []
    if bool(files) == bool(ids):
        raise ApiError(
            422,
            "validation_error",
            f"give exactly one of '{files_field}' (uploads) or '{ids_field}'",
            [{"field": files_field}, {"field": ids_field}],
        )
    count, field = (len(files), files_field) if files else (len(ids), ids_field)
    if count > most:
        raise _invalid(field, f"'{field}' has {count} videos; the maximum is {most}")
    return count


def video_list_input(request, files, source_video_ids, *, files_field: str, labels: list[str]):
    """Uploads or the user's source videos under `labels`, as (inputs, shared_inputs). Ownership
    is checked before anything is probed (another user's video is a 404)."""
    if source_video_ids:
        videos = [owned(SourceVideo.objects, request.auth, id=i) for i in source_video_ids]
        return None, {label: v.file.name for label, v in zip(labels, videos, strict=True)}
    for n, upload in enumerate(files):
        validate_media_upload(upload, field=f"{files_field}.{n}", need_video=True)
    return dict(zip(labels, files, strict=True)), None


def audio_upload(upload, *, field: str = "audio"):
    """An upload that has an audio stream (415 if not media, 422 without audio)."""
    info = validate_media_upload(upload, field=field)
    if not info.has_audio:
        raise _invalid(field, f"'{field}' has no audio stream")
    return upload


def merge(*parts: dict | None) -> dict | None:
    """Several label->input dicts as one (None when all are empty)."""
    merged = {k: v for part in parts if part for k, v in part.items()}
    return merged or None
