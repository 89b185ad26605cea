"""The main page's synchronous media calls (contract 4.1, 5.3, 5.4): video info and the old
analysis. Each starts the job v1 starts, waits for it (EF_FRONTEND_SYNC_WAIT, `wait_for_job`)
and answers the prototype's shape.

Mapping rules (request -> the services POST /api/v1/library/videos/{info,analyze} call):
- POST /video-info (multipart `video`): the upload is checked (`validate_media_upload`: a video
  stream is required, the page reads its size) and a `probe` job reads it. Answers `width`,
  `height` (rotation applied), `duration`, `fps`, `aspect_ratio` (portrait, landscape or square)
  and `is_vertical` (taller than wide).
- POST /analyze (multipart `video`, `target_duration` integer seconds): an `analyze` job with
  `target_duration` and the job type's defaults (the local analysis: the page sends no context
  text). Answers `video_info` {filename, duration} and the selected `segments` in time order,
  each with `duration` and the prototype's `start`, `end`, `motion_score`, `variance_score`,
  `combined_score` (the segment's score, 0-1).
- Past the wait: 504 naming the job (`job_id` in the details; poll GET /jobs/{job_id}). A job that
  failed: 422 with its error (the media could not be read); one cancelled meanwhile: 409.
"""

from pathlib import PurePath
from typing import Annotated

from asgiref.sync import sync_to_async
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile

from core.deprecation import old_path
from core.errors import Conflict, Invalid, InvalidMedia
from jobs.errors import InvalidJobParams
from jobs.models import Job
from jobs.registry import get_job_type
from jobs.schemas import ErrorOut
from jobs.status import JobStatus
from media_pipeline.frontend.api import PREFIX
from media_pipeline.frontend.common import job_error_text, str_id, wait_for_job
from media_pipeline.library.starts import job_start
from media_pipeline.library.uploads import validate_media_upload

router = Router(tags=["frontend: main page"])
V1 = "/api/v1/library/videos"
ERRORS = {
    401: ErrorOut,
    402: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
    503: ErrorOut,
    504: ErrorOut,
}


class VideoInfo(Schema):
    width: int
    height: int
    duration: float
    fps: float
    aspect_ratio: str
    is_vertical: bool
    rotation: int
    has_audio: bool
    job_id: str


class AnalyzedVideo(Schema):
    filename: str
    duration: float


class AnalyzedSegment(Schema):
    start: float
    end: float
    duration: float
    motion_score: float | None
    variance_score: float | None
    combined_score: float


class Analysis(Schema):
    status: str
    job_id: str
    video_info: AnalyzedVideo
    target_duration: float
    total_selected_duration: float
    covers_target: bool
    shortfall: str | None
    segments: list[AnalyzedSegment]


def _params(job_type: str, **form):
    """The job's params from the page's form fields, checked now (before the upload is probed);
    a value the job type refuses is a 422 naming the form field the page sent."""
    try:
        return get_job_type(job_type).parse_params(form)
    except InvalidJobParams as exc:
        first = exc.details[0]
        field = ".".join(first["loc"][1:])  # ["params", "target_duration"] -> the form field
        details = [{**d, "field": ".".join(d["loc"][1:])} for d in exc.details]
        raise Invalid(f"'{field}': {first['msg']}", details) from None


def _start(user, job_type: str, video, params) -> Job:
    validate_media_upload(video, field="video", need_video=True)
    return job_start(owner=user, job_type=job_type, params=params, inputs={"source": video})


async def _run(request, job_type: str, video, params=None) -> Job:
    """Start the job and wait for its end. The upload is checked and stored on the request's
    own thread (sync_to_async), not on the polling endpoints' small ORM pool."""
    job = await sync_to_async(_start)(request.auth, job_type, video, params)
    return _completed(await wait_for_job(job.id))


def _completed(job: Job) -> Job:
    if job.status == JobStatus.COMPLETED:
        return job
    details = [{"field": "video", "job_id": str_id(job.id)}]
    if job.status == JobStatus.CANCELLED:
        raise Conflict(f"The job {job.id} was cancelled before it ended.", details)
    raise InvalidMedia(f"'video' could not be read: {job_error_text(job)}", details)


@router.post(
    "/video-info",
    response={200: VideoInfo, **ERRORS},
    summary="Size, duration, frame rate and orientation of a video (waits for a probe job)",
    **old_path("POST", PREFIX + "/video-info", f"POST {V1}/info"),
)
async def video_info(request, video: File[UploadedFile]):
    job = await _run(request, "probe", video)
    info = job.result
    return VideoInfo(
        width=info["width"],
        height=info["height"],
        duration=info["duration"],
        fps=info["fps"],
        aspect_ratio=info["aspect"],
        is_vertical=info["height"] > info["width"],
        rotation=info["rotation"],
        has_audio=info["has_audio"],
        job_id=str_id(job.id),
    )


@router.post(
    "/analyze",
    response={200: Analysis, **ERRORS},
    summary="The best segments of a video for a target duration (waits for an analyze job)",
    **old_path("POST", PREFIX + "/analyze", f"POST {V1}/analyze"),
)
async def analyze(request, video: File[UploadedFile], target_duration: Annotated[int, Form()]):
    job = await _run(request, "analyze", video, _params("analyze", target_duration=target_duration))
    result = job.result
    return Analysis(
        status="completed",
        job_id=str_id(job.id),
        video_info=AnalyzedVideo(
            filename=PurePath(video.name or "video").name, duration=result["source_duration"]
        ),
        target_duration=result["target_duration"],
        total_selected_duration=result["selected_duration"],
        covers_target=result["covers_target"],
        shortfall=result["shortfall"],
        segments=[
            AnalyzedSegment(
                start=s["start"],
                end=s["end"],
                duration=s["duration"],
                motion_score=s.get("motion_score"),
                variance_score=s.get("variance_score"),
                combined_score=s["score"],
            )
            for s in result["segments"]
        ],
    )
