"""The main page's job calls (contract 4.1 except /video-info and /analyze; 4.1.1, 4.1.2, 5.1,
5.2; polling 2.1 and 2.2; media M1-M3): video jobs, the multi-video edit, the job list and the
polled job, the job's download, and a voice-over added to chosen variants.

Every call starts or reads jobs of the job engine through the services the v1 endpoints use
(`job_start`, the job rows); how each form field becomes a param is in `main_forms`, how a job
reads back in `job_shapes`.

- POST /jobs -> a `process` job (input `source`, and `audio` when it is the soundtrack).
- POST /jobs/multi-video -> a `multi_video` job: `main_video` -> input `main`; the slots N in
  1..3 that are sent (possibly not contiguous, e.g. only 2) -> inputs `secondary_0`... in slot
  order, `secondary_keywords_N` (comma-separated) -> `keywords`; `secondary_segment_duration`
  -> `insert_duration`. A slot needs both its file and its keywords.
- POST /tts/add-to-videos -> an `add_tts` job: `video_paths` (a JSON array of `final_video`
  path tokens: each must be a valid token of one of the caller's job output videos) -> the
  videos, read in place; `tts_text` -> `speech.text` (the default TTS provider);
  `output_suffix` -> `output_suffix`.
"""

import json
from typing import Annotated

from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from core.asyncdb import db_call
from core.auth import ASYNC_API_AUTH, resolve_auth, resolve_auth_id
from core.deprecation import old_path
from core.downloads import stream_stored_file
from core.errors import Conflict, Invalid, NotFound
from core.strict import media_route
from jobs.models import Job, JobFile
from jobs.schemas import ErrorOut
from jobs.status import JobStatus
from media_pipeline.frontend import main_forms as forms
from media_pipeline.frontend.api import PREFIX
from media_pipeline.frontend.common import storage_name_of
from media_pipeline.frontend.job_shapes import (
    JobList,
    JobOut,
    JobStarted,
    job_list_item,
    job_started,
    main_output,
    polled_job,
    signed_job_uuid,
)
from media_pipeline.jobtypes.tts import MAX_VIDEOS
from media_pipeline.library.starts import job_start

router = Router(tags=["frontend: main page"])
V1 = "/api/v1"
ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
START_ERRORS = {**ERRORS, 402: ErrorOut, 413: ErrorOut, 415: ErrorOut, 429: ErrorOut, 503: ErrorOut}
LIST_LIMIT = 100
SLOTS = (1, 2, 3)


def _route(method: str, path: str, successor: str, **extra) -> dict:
    return old_path(method, PREFIX + path, successor, **extra)


def _blank_is_none(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def Text():  # noqa: N802 - a type: one Form() per parameter (ninja sets its default on it)
    return Annotated[str, Form(..., max_length=100_000)]


def Short():  # noqa: N802
    return Annotated[str, Form(..., max_length=200)]


@router.post(
    "/jobs",
    response={202: JobStarted, **START_ERRORS},
    summary="Clip variants of a video (a `process` job; multipart as the main page sends it)",
    **_route("POST", "/jobs", f"POST {V1}/videos/process"),
)
def create_job(
    request,
    video: File[UploadedFile],
    target_duration: Short(),
    variant_count: Short(),
    subtitle_settings: Text(),
    generate_audio: Short(),
    mute_source_voice: Short(),
    srt: File[UploadedFile] = None,
    audio: File[UploadedFile] = None,
    output_name: Short() = None,
    script_text: Text() = None,
    context_text: Text() = None,
):
    form = {
        "subtitle_settings": subtitle_settings,
        "generate_audio": generate_audio,
        "mute_source_voice": mute_source_voice,
        "output_name": _blank_is_none(output_name),
        "script_text": script_text,
    }
    params, inputs = forms.common_params(form, audio=audio, srt=srt)
    params["target_duration"] = forms.number(target_duration, "target_duration")
    params["variant_count"] = forms.number(variant_count, "variant_count", integer=True)
    if _blank_is_none(context_text):
        params["context_text"] = context_text
    parsed = forms.checked_params("process", params)
    inputs = forms.checked_uploads(inputs, source=("video", video))
    job = job_start(owner=request.auth, job_type="process", params=parsed, inputs=inputs)
    return Status(202, job_started(job))


def _secondaries(slots: dict[int, tuple]) -> tuple[list[list[str]], list[tuple[str, object]]]:
    """(keyword lists, (field, upload) per secondary video) of the slots sent, in slot order."""
    keywords, videos = [], []
    for n, (upload, words) in slots.items():
        words = _blank_is_none(words)
        if upload is None and words is None:
            continue
        if upload is None:
            raise Invalid.field(
                f"secondary_video_{n}",
                f"'secondary_keywords_{n}' is sent without its video 'secondary_video_{n}'",
            )
        if words is None:
            raise Invalid.field(
                f"secondary_keywords_{n}",
                f"'secondary_video_{n}' is sent without its keywords 'secondary_keywords_{n}'",
            )
        keywords.append([w.strip() for w in words.split(",") if w.strip()])
        videos.append((f"secondary_video_{n}", upload))
    if not videos:
        raise Invalid.field(
            "secondary_video_1",
            "a multi-video edit needs at least one secondary video with its keywords "
            "(secondary_video_N and secondary_keywords_N, N from 1 to 3)",
        )
    return keywords, videos


@router.post(
    "/jobs/multi-video",
    response={202: JobStarted, **START_ERRORS},
    summary="A main video with secondary videos inserted at their keywords (a `multi_video` job)",
    **_route("POST", "/jobs/multi-video", f"POST {V1}/videos/multi"),
)
def create_multi_video_job(
    request,
    main_video: File[UploadedFile],
    srt: File[UploadedFile],
    secondary_segment_duration: Short(),
    target_duration: Short(),
    variant_count: Short(),
    subtitle_settings: Text(),
    generate_audio: Short(),
    mute_source_voice: Short(),
    secondary_video_1: File[UploadedFile] = None,
    secondary_keywords_1: Short() = None,
    secondary_video_2: File[UploadedFile] = None,
    secondary_keywords_2: Short() = None,
    secondary_video_3: File[UploadedFile] = None,
    secondary_keywords_3: Short() = None,
    audio: File[UploadedFile] = None,
    output_name: Short() = None,
    script_text: Text() = None,
    context_text: Text() = None,
):
    keywords, videos = _secondaries(
        {
            1: (secondary_video_1, secondary_keywords_1),
            2: (secondary_video_2, secondary_keywords_2),
            3: (secondary_video_3, secondary_keywords_3),
        }
    )
    form = {
        "subtitle_settings": subtitle_settings,
        "generate_audio": generate_audio,
        "mute_source_voice": mute_source_voice,
        "output_name": _blank_is_none(output_name),
        "script_text": script_text,
    }
    params, inputs = forms.common_params(form, audio=audio, srt=srt)
    params["keywords"] = keywords
    params["insert_duration"] = forms.number(
        secondary_segment_duration, "secondary_segment_duration"
    )
    params["max_duration"] = forms.number(target_duration, "target_duration")
    if forms.number(variant_count, "variant_count", integer=True) != 1:
        raise Invalid.field(
            "variant_count",
            "a multi-video edit makes one video: 'variant_count' must be 1 "
            "(remove the secondary videos for several variants)",
        )
    if _blank_is_none(context_text):
        raise Invalid.field(
            "context_text",
            "a multi-video edit keeps the whole main video, so no segments are chosen with "
            "'context_text': leave it empty (or remove the secondary videos to use it)",
        )
    parsed = forms.checked_params("multi_video", params)
    uploads = {"main": ("main_video", main_video)}
    uploads.update({f"secondary_{i}": video for i, video in enumerate(videos)})
    inputs = forms.checked_uploads(inputs, **uploads)
    job = job_start(owner=request.auth, job_type="multi_video", params=parsed, inputs=inputs)
    return Status(202, job_started(job))


def _job_list(auth) -> JobList:
    user = resolve_auth(auth)
    fields = ("id", "job_type", "status", "progress", "stage", "stage_label", "eta_seconds")
    jobs = (
        Job.objects.for_owner(user)
        .only(*fields, "attempts", "created_at")
        .order_by("-created_at")[:LIST_LIMIT]
    )
    return JobList(jobs=[job_list_item(job) for job in jobs])


@router.get(
    "/jobs",
    auth=ASYNC_API_AUTH,
    response={200: JobList, 401: ErrorOut},
    summary=f"Your latest {LIST_LIMIT} jobs, newest first ({{jobs: [...]}})",
    **_route("GET", "/jobs", f"GET {V1}/jobs"),
)
async def list_jobs(request):
    return await db_call(_job_list, request.auth)


def _job(auth, job_id: str) -> JobOut:
    return polled_job(resolve_auth_id(auth), job_id)


@router.get(
    "/jobs/{job_id}",
    auth=ASYNC_API_AUTH,
    response={200: JobOut, **ERRORS},
    summary="One job: status pending|processing|completed|failed, progress text, result",
    **_route("GET", "/jobs/{job_id}", f"GET {V1}/jobs/{{job_id}}"),
)
async def get_job(request, job_id: str):
    # Async on the ORM pool, like v1's poll (core.asyncdb): the page polls it every 2 s.
    return await db_call(_job, request.auth, job_id)


@router.get(
    "/jobs/{job_id}/download",
    auth=None,
    response={200: None, 206: None, 404: ErrorOut, 409: ErrorOut, 416: None, 422: ErrorOut},
    summary="The job's main output video as an attachment (M3; no header: the signed id)",
    **_route(
        "GET",
        "/jobs/{job_id}/download",
        f"GET {V1}/jobs/{{job_id}}",
        note="v1 lists the job's files, each with a signed download_url.",
    ),
)
@media_route
def download(request, job_id: str):
    job = Job.objects.filter(id=signed_job_uuid(job_id)).first()
    if job is None:
        raise NotFound(f"job {job_id!r} not found")
    if job.status != JobStatus.COMPLETED:
        raise Conflict(f"the job is {job.status}: its output is not ready")
    output = main_output(job, list(job.files.order_by("id")))
    if output is None:
        raise NotFound("the job has no output file")
    return stream_stored_file(request, name=output.name, content_type=output.content_type or None)


def _videos_of(user, raw: str) -> dict[str, str]:
    """The job inputs (`video_0`... -> storage name) of the `video_paths` JSON array."""
    field = "video_paths"
    try:
        tokens = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid.field(field, f"'{field}' is not valid JSON: {exc.msg}") from None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise Invalid.field(field, f"'{field}' must be a JSON array of path tokens (strings)")
    if not 1 <= len(tokens) <= MAX_VIDEOS:
        raise Invalid.field(field, f"'{field}' must name 1 to {MAX_VIDEOS} videos")
    names = {}
    for i, token in enumerate(tokens):
        name = storage_name_of(token, user=user, field=f"{field}[{i}]")
        owned = JobFile.objects.filter(
            job__owner=user, role=JobFile.Role.OUTPUT, name=name, content_type__startswith="video/"
        )
        if not owned.exists():
            raise Invalid.field(f"{field}[{i}]", f"'{field}[{i}]' names no video of your jobs")
        names[f"video_{i}"] = name
    return names


@router.post(
    "/tts/add-to-videos",
    response={202: JobStarted, **START_ERRORS},
    summary="Speak a text and mix it onto chosen variants (an `add_tts` job)",
    **_route("POST", "/tts/add-to-videos", f"POST {V1}/audio/add-to-videos"),
)
def add_tts_to_videos(
    request,
    video_paths: Text(),
    tts_text: Text(),
    output_suffix: Short(),
):
    videos = _videos_of(request.auth, video_paths)
    params = {
        "videos": len(videos),
        "speech": {"text": tts_text},
        "output_suffix": output_suffix,
    }
    parsed = forms.checked_params("add_tts", params)
    job = job_start(owner=request.auth, job_type="add_tts", params=parsed, shared_inputs=videos)
    return Status(202, job_started(job))
