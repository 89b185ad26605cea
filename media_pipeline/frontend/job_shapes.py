"""The main page's job (contract 5.1, 5.2) as read from our job rows: the frontend's four status
words and its progress text (common.py), the error string, and a result whose files are path
tokens: `variants[].final_video` of video jobs, `processed_videos[]` of voice-over jobs.

Job ids are signed (`<uuid>.<expiry>.<signature>`, core.media_urls.signed_object_id): the page
builds the download URL M3 (`/jobs/{job_id}/download`) from the id alone and opens it with no
header, so the id carries its own permission there. Everywhere else the uuid part is the id and
the caller's token is the permission (another user's job is a 404).
"""

from uuid import UUID

from ninja import Schema

from core.errors import NotFound
from core.media_urls import object_id_pk, read_signed_object_id, signed_object_id
from core.plainsql import Select
from jobs.models import Job, JobFile
from jobs.status import JobStatus
from media_pipeline.frontend.common import (
    job_error_text,
    job_progress_text,
    job_status_word,
    path_token,
)

JOB = "frontend-job"
# The job's main output video (M3), by job type; other types: their first output video.
MAIN_OUTPUT = {"process": "variant_1", "multi_video": "video", "add_tts": "video_0"}


class JobOut(Schema):
    job_id: str
    job_type: str
    status: str
    progress: str
    error: str | None
    created_at: str
    updated_at: str
    result: dict | None


class JobListItem(Schema):
    job_id: str
    job_type: str
    status: str
    progress: str
    created_at: str


class JobList(Schema):
    jobs: list[JobListItem]


class JobStarted(Schema):
    job_id: str
    status: str
    progress: str
    created_at: str


def job_id_text(job: Job) -> str:
    return signed_object_id(JOB, job.id)


def job_uuid(text: str) -> UUID:
    """The job's uuid in a frontend job id, signed or plain; anything else is not found."""
    try:
        return UUID(object_id_pk(text))
    except ValueError:
        raise NotFound(f"job {text!r} not found") from None


def signed_job_uuid(text: str) -> UUID:
    """The uuid of a signed job id (M3 has no header: the signature is the permission)."""
    return read_signed_object_id(JOB, text, parse=UUID)


def job_started(job: Job) -> JobStarted:
    return JobStarted(
        job_id=job_id_text(job),
        status=job_status_word(job),
        progress=job_progress_text(job),
        created_at=job.created_at.isoformat(),
    )


def job_list_item(job: Job) -> JobListItem:
    return JobListItem(
        job_id=job_id_text(job),
        job_type=job.job_type,
        status=job_status_word(job),
        progress=job_progress_text(job),
        created_at=job.created_at.isoformat(),
    )


# The poll's two reads (plain SQL, core.plainsql, as v1's poll): the job, and its files once it
# has completed.
_POLL_FIELDS = [
    "id", "job_type", "owner_id", "status", "progress", "stage", "stage_label", "eta_seconds",
    "error", "attempts", "result", "created_at", "updated_at",
]  # fmt: skip
_JOB = Select(Job, _POLL_FIELDS, 'WHERE "id" = %s AND "owner_id" = %s')
_FILES = Select(
    JobFile, ["name", "role", "label", "content_type"], 'WHERE "job_id" = %s ORDER BY "id"'
)


def polled_job(owner_id: int, text: str) -> JobOut:
    """The owner's job as the page polls it (another user's or an unknown id: a 404)."""
    row = _JOB.first(job_uuid(text), owner_id)
    if row is None:
        raise NotFound(f"job {text!r} not found")
    job = Job(**row)
    files = None
    if job.status == JobStatus.COMPLETED:
        files = [JobFile(**f) for f in _FILES.fetch(job.id)]
    return job_out(job, files)


def job_out(job: Job, files: list[JobFile] | None = None) -> JobOut:
    """The polled job; `result` only once it has completed (the page reads it then). `files`:
    the completed job's files in id order (read from the row when not given)."""
    completed = job.status == JobStatus.COMPLETED
    if completed and files is None:
        files = list(job.files.order_by("id"))
    return JobOut(
        job_id=job_id_text(job),
        job_type=job.job_type,
        status=job_status_word(job),
        progress=job_progress_text(job),
        error=job_error_text(job) or None,
        created_at=job.created_at.isoformat(),
        updated_at=job.updated_at.isoformat(),
        result=result_of(job, files) if completed else None,
    )


def _by_label(files: list[JobFile], *roles) -> dict[str, JobFile]:
    return {f.label: f for f in files if f.role in roles}


def result_of(job: Job, files: list[JobFile]) -> dict:
    """The completed job's result as the page reads it (5.1)."""
    token = lambda f: path_token(f.name, owner_id=job.owner_id) if f else None  # noqa: E731
    outputs = _by_label(files, JobFile.Role.OUTPUT)
    result = dict(job.result or {})
    if job.job_type == "process":
        variants = [
            {
                "variant_index": v["index"],
                "variant_name": v.get("name") or f"variant_{v['index']}",
                "final_video": token(outputs.get(f"variant_{v['index']}")),
                "thumbnail": token(outputs.get(f"thumbnail_{v['index']}")),
                "duration": v.get("duration"),
            }
            for v in result.get("variants", [])
        ]
        result["variants"] = variants
    elif job.job_type == "multi_video":
        result["variants"] = [
            {
                "variant_index": 1,
                "variant_name": result.get("name") or "multi_video",
                "final_video": token(outputs.get("video")),
                "thumbnail": token(outputs.get("thumbnail")),
                "duration": result.get("duration"),
            }
        ]
    elif job.job_type == "add_tts":
        originals = _by_label(files, JobFile.Role.INPUT, JobFile.Role.SHARED)
        result["processed_videos"] = [
            {
                "original": token(originals.get(out["label"])),
                "with_tts": token(outputs.get(out["label"])),
                "status": "success",
                "duration": out.get("duration"),
            }
            for out in result.get("outputs", [])
        ]
    main = main_output(job, files)
    result["final_video"] = token(main)
    return result


def main_output(job: Job, files: list[JobFile]) -> JobFile | None:
    """The job's main output video (M3 serves it)."""
    outputs = [f for f in files if f.role == JobFile.Role.OUTPUT]
    label = MAIN_OUTPUT.get(job.job_type)
    if label is not None:
        return next((f for f in outputs if f.label == label), None)
    videos = [f for f in outputs if f.content_type.startswith("video/")]
    return (videos or outputs or [None])[0]
