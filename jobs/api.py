"""The jobs router: /api/v1/jobs. A user only ever sees their own jobs (others are a 404)."""

import asyncio
import json
from datetime import datetime
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from pydantic import StrictInt

from core.asyncdb import db_call
from core.auth import ASYNC_API_AUTH, MEDIA_AUTH, resolve_auth_id
from core.downloads import stream_stored_file
from core.pagination import MAX_OFFSET
from core.strict import InputSchema
from jobs import services
from jobs.limits import check_job_rate_limit
from jobs.listing import job_list_page
from jobs.models import Job, JobFile
from jobs.polling import job_detail
from jobs.queues import PRIORITY_HELP, PRIORITY_MAX, PRIORITY_MIN
from jobs.schemas import DeletedOut, ErrorOut, JobHistoryOut, JobOut, JobPage, JobSummary
from jobs.status import TERMINAL, JobStatus

router = Router(tags=["jobs"])
ERRORS = {401: ErrorOut, 404: ErrorOut}


def owned_job(request, job_id) -> Job:
    return get_object_or_404(Job.objects.for_owner(request.auth), id=job_id)


class JobFilters(Schema):
    status: JobStatus | None = None
    job_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = 50
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def job_page(auth, filters: JobFilters) -> JobPage:
    """One page of the owner's jobs, newest first, with the filtered total (ORM thread)."""
    return owner_job_page(resolve_auth_id(auth), filters)


def owner_job_page(owner_id: int, filters: JobFilters) -> JobPage:
    """The page of `job_page` for a known owner (also answered by the polling path,
    editfactory.fastpoll). Built without validation, as the job poll is (jobs.polling): every
    value comes typed from its column (jobs.listing), and ninja answers a JobPage instance
    without validating it again."""
    page = job_list_page(
        owner_id,
        limit=max(1, min(filters.limit, 200)),
        offset=max(0, filters.offset),
        status=filters.status,
        job_type=filters.job_type,
        created_after=filters.created_after,
        created_before=filters.created_before,
    )
    items = [JobSummary.model_construct(**row) for row in page.pop("items")]
    return JobPage.model_construct(**page, items=items)


@router.get(
    "/jobs",
    auth=ASYNC_API_AUTH,
    response={200: JobPage, 401: ErrorOut, 422: ErrorOut},
    summary="List your jobs, newest first",
)
async def list_jobs(request, filters: Query[JobFilters]):
    # Async with its ORM work on the long-lived pool, like the job poll: a sync view opens a new
    # database connection per request under ASGI (PostgreSQL: ~8 ms of a ~12 ms answer, see
    # bench/jobs_list.py).
    return await db_call(job_page, request.auth, filters)


class PriorityIn(InputSchema):
    priority: StrictInt = Field(ge=PRIORITY_MIN, le=PRIORITY_MAX, description=PRIORITY_HELP)


@router.post(
    "/jobs/{job_id}/priority",
    response={200: JobOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    summary="Change a queued job's priority (its place in its queue changes with it)",
)
def set_job_priority(request, job_id: UUID, payload: PriorityIn):
    job = services.job_set_priority(job=owned_job(request, job_id), priority=payload.priority)
    return job_detail(owner_id=job.owner_id, job_id=job.id)


def _job_out(auth, job_id) -> JobOut:
    job_out = job_detail(owner_id=resolve_auth_id(auth), job_id=job_id)
    if job_out is None:
        raise Http404("No Job matches the given query.")
    return job_out


@router.get(
    "/jobs/{job_id}",
    auth=ASYNC_API_AUTH,
    response={200: JobOut, **ERRORS},
    url_name="job_detail",
    summary="One job: status, progress, stage, ETA, result, files and costs",
)
async def get_job(request, job_id: UUID):
    # Async because clients poll it: see core.asyncdb.
    return await db_call(_job_out, request.auth, job_id)


@router.get(
    "/jobs/{job_id}/history",
    response={200: JobHistoryOut, **ERRORS},
    summary="The job's event log: each attempt (start, end, worker, outcome, error) and every "
    "status change",
)
def job_history(request, job_id: UUID):
    job = owned_job(request, job_id)
    history = services.job_history(job)
    return JobHistoryOut(
        job_id=job.id, status=job.status, attempts=history["attempts"], events=history["events"]
    )


@router.post(
    "/jobs/{job_id}/cancel", response={200: JobOut, 409: ErrorOut, **ERRORS}, summary="Cancel a job"
)
def cancel_job(request, job_id: UUID):
    job = services.job_cancel(job=owned_job(request, job_id))
    return job_detail(owner_id=job.owner_id, job_id=job.id)


@router.post(
    "/jobs/{job_id}/retry",
    response={200: JobOut, 402: ErrorOut, 409: ErrorOut, 429: ErrorOut, 503: ErrorOut, **ERRORS},
    summary="Retry a failed or cancelled job (attempts start again from 0)",
)
def retry_job(request, job_id: UUID):
    job = owned_job(request, job_id)
    check_job_rate_limit(request.auth)  # a retry starts work like a new job
    job = services.job_retry(job=job)
    return job_detail(owner_id=job.owner_id, job_id=job.id)


@router.delete(
    "/jobs/{job_id}", response={200: DeletedOut, **ERRORS}, summary="Delete a job and its files"
)
def delete_job(request, job_id: UUID):
    files = services.job_delete(job=owned_job(request, job_id))
    return DeletedOut(deleted=True, files_deleted=files)


@router.get(
    "/jobs/{job_id}/files/{file_id}",
    auth=MEDIA_AUTH,  # its download_url is signed: it opens in a browser without a header
    response={200: None, 206: None, 416: None, **ERRORS},
    url_name="job_file_download",
    summary="Download a job's file (supports Range)",
)
def download_job_file(request, job_id: UUID, file_id: int):
    job = owned_job(request, job_id)
    jf = get_object_or_404(JobFile, job=job, id=file_id)
    return stream_stored_file(request, name=jf.name, content_type=jf.content_type)


_SNAPSHOT = ("status", "progress", "stage", "stage_label", "eta_seconds", "attempts", "error")
_PLACE_INPUTS = ("job_type", "priority", "owner_id", "created_at", "run_after")
# A queued job's place is counted again at most this often (seconds) while its stream is open,
# and a new estimated start is sent when it moved by this much (it moves with the clock).
PLACE_INTERVAL = 2.0
ESTIMATE_MOVE = 5.0


def _snapshot(job_id, with_place: bool) -> dict | None:
    """The job's progress fields; with its queue place (`queue_position`, `estimated_start_at`,
    `queue_paused`) while it is queued and `with_place`."""
    row = Job.objects.filter(id=job_id).values(*_SNAPSHOT, *_PLACE_INPUTS).first()
    if row is None:
        return None
    snap = {name: row[name] for name in _SNAPSHOT}
    if with_place and row["status"] == JobStatus.QUEUED:
        place = services.queue_place(
            job_id=job_id, status=row["status"], **{k: row[k] for k in _PLACE_INPUTS}
        )
        if place is not None:
            estimate = place.estimated_start_at
            snap.update(
                queue_position=place.position,
                estimated_start_at=estimate.isoformat() if estimate else None,
                queue_paused=place.paused,
            )
    return snap


def _moved(last: dict | None, snap: dict) -> bool:
    """Worth an event: anything changed, the estimated start by ESTIMATE_MOVE seconds or more."""
    if last is None:
        return True
    if {k: v for k, v in last.items() if k != "estimated_start_at"} != {
        k: v for k, v in snap.items() if k != "estimated_start_at"
    }:
        return True
    before, now = last.get("estimated_start_at"), snap.get("estimated_start_at")
    if (before is None) != (now is None):
        return True
    if before is None:
        return False
    shift = datetime.fromisoformat(now) - datetime.fromisoformat(before)
    return abs(shift.total_seconds()) >= ESTIMATE_MOVE


def _close_connection() -> None:
    connection.close()  # resolved in the ORM thread, not the event loop's


async def _event_stream(job_id, poll: float, keepalive: float):
    try:
        async for event in _events(job_id, poll, keepalive):
            yield event
    finally:
        # The stream outlives the request cycle that would normally close this connection.
        await sync_to_async(_close_connection)()


async def _events(job_id, poll: float, keepalive: float):
    last = None
    idle = 0.0
    since_place = PLACE_INTERVAL
    while True:
        with_place = since_place >= PLACE_INTERVAL
        snap = await sync_to_async(_snapshot)(job_id, with_place)
        if snap is None:
            yield "event: deleted\ndata: {}\n\n"
            return
        if with_place:
            since_place = 0.0
        elif last is not None and snap["status"] == last["status"]:
            # between two countings, the place last counted stands
            snap.update({k: v for k, v in last.items() if k not in snap})
        if _moved(last, snap):
            last = snap
            idle = 0.0
            yield f"event: progress\ndata: {json.dumps(snap)}\n\n"
        if snap["status"] in TERMINAL:
            yield f"event: end\ndata: {json.dumps(snap)}\n\n"
            return
        await asyncio.sleep(poll)
        idle += poll
        since_place += poll
        if idle >= keepalive:
            idle = 0.0
            yield ": keepalive\n\n"


@router.get(
    "/jobs/{job_id}/events",
    response={200: None, **ERRORS},
    url_name="job_events",
    summary="Server-Sent Events of the job's progress until it ends",
)
def job_events(request, job_id: UUID):
    job = owned_job(request, job_id)
    response = StreamingHttpResponse(
        _event_stream(job.id, settings.SSE_POLL_INTERVAL, settings.SSE_KEEPALIVE_INTERVAL),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
