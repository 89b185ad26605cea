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

from core.asyncdb import db_call
from core.auth import ASYNC_API_AUTH, MEDIA_AUTH, resolve_auth
from core.downloads import stream_stored_file
from core.pagination import MAX_OFFSET, page_of
from jobs import services
from jobs.limits import check_job_rate_limit
from jobs.models import Job, JobFile
from jobs.polling import job_detail
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
    limit = max(1, min(filters.limit, 200))
    offset = max(0, filters.offset)
    qs = Job.objects.for_owner(resolve_auth(auth))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.job_type:
        qs = qs.filter(job_type=filters.job_type)
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    qs = qs.order_by("-created_at")
    return JobPage(**page_of(qs, limit=limit, offset=offset, item=JobSummary.from_orm))


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


def _job_out(auth, job_id) -> JobOut:
    job_out = job_detail(owner_id=resolve_auth(auth).pk, job_id=job_id)
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


def _snapshot(job_id) -> dict | None:
    job = (
        Job.objects.filter(id=job_id)
        .values("status", "progress", "stage", "stage_label", "eta_seconds", "attempts", "error")
        .first()
    )
    return job


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
    while True:
        snap = await sync_to_async(_snapshot)(job_id)
        if snap is None:
            yield "event: deleted\ndata: {}\n\n"
            return
        if snap != last:
            last = snap
            idle = 0.0
            yield f"event: progress\ndata: {json.dumps(snap)}\n\n"
        if snap["status"] in TERMINAL:
            yield f"event: end\ndata: {json.dumps(snap)}\n\n"
            return
        await asyncio.sleep(poll)
        idle += poll
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
