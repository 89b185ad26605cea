"""What every library endpoint shares: ownership lookups, job starts, upload-or-library inputs."""

from dataclasses import asdict, dataclass
from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Status

from core.apierrors import ApiError
from jobs.options import IDEMPOTENCY_HEADER
from jobs.schemas import ErrorOut, JobCreated
from media_pipeline.library.models import SourceVideo
from media_pipeline.library.starts import job_start
from media_pipeline.library.uploads import validate_media_upload

# Responses of every endpoint that creates a job (402 budget, 429 rate limit).
CREATE_ERRORS = {
    401: ErrorOut,
    402: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
    503: ErrorOut,
}
ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
# Responses of the endpoints that start a job through `start_job`: 202 a new job, 200 the job an
# earlier request with the same Idempotency-Key created.
START_RESPONSES = {202: JobCreated, 200: JobCreated, **CREATE_ERRORS}


def schema_of(schema, obj, **computed):
    """`schema` filled from `obj`'s attributes of the same names, except the `computed` ones.
    Not ninja resolvers: those run again whenever the schema is validated anew (nested in a
    page, say), and then get the schema instead of the row."""
    plain = {name: getattr(obj, name) for name in schema.model_fields if name not in computed}
    return schema(**plain, **computed)


def owned(queryset, user, **lookup):
    """The user's object or a 404 (another user's object is indistinguishable from none)."""
    return get_object_or_404(queryset.for_owner(user), **lookup)


@dataclass(frozen=True)
class JobOptions:
    """A request's job options besides its params (checked by media_pipeline.library.api.inputs
    `job_options`, and again by the engine)."""

    run_at: datetime | None = None
    metadata: dict | None = None
    webhook_progress: bool = False


def start_job(
    request,
    job_type: str,
    *,
    params: dict | None = None,
    inputs: dict | None = None,
    shared_inputs: dict | None = None,
    callback_url: str | None = None,
    options: JobOptions | None = None,
):
    """Create a job for the requesting user behind the rate limit; answers 202 {job_id, status_url}.
    Every job-creating endpoint goes through here. The request's `Idempotency-Key` header makes
    a repeat answer the first request's job: 200 with the same body (409 for another request)."""
    job = job_start(
        owner=request.auth,
        job_type=job_type,
        params=params,
        inputs=inputs,
        shared_inputs=shared_inputs,
        callback_url=callback_url,
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
        **asdict(options or JobOptions()),
    )
    return Status(200 if job.replayed else 202, JobCreated.for_job(job))


def require_one_video(file, source_video_id) -> None:
    """A video is an upload `file` or a `source_video_id`: exactly one of the two (422)."""
    if (file is None) == (source_video_id is None):
        raise ApiError(
            422,
            "validation_error",
            "give exactly one of 'file' (an upload) or 'source_video_id'",
            [{"field": "file"}, {"field": "source_video_id"}],
        )


def video_input(request, *, file, source_video_id, label: str = "source", need_video=True):
    """An upload or one of the user's source videos, as job inputs: (inputs, shared_inputs).
    Exactly one of the two must be given (422 otherwise)."""
    require_one_video(file, source_video_id)
    if file is not None:
        validate_media_upload(file, need_video=need_video)
        return {label: file}, None
    video = owned(SourceVideo.objects, request.auth, id=source_video_id)
    return None, {label: video.file.name}
