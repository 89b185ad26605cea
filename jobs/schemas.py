"""API shapes of jobs."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.urls import reverse
from ninja import Field, Schema


class JobFileOut(Schema):
    id: int
    role: str
    label: str
    size: int
    content_type: str
    created_at: datetime
    download_url: str = Field(
        description="GET it (Range supported) with no header: a signed link to this file for "
        "its owner, valid EF_MEDIA_URL_TTL seconds"
    )


class CostOut(Schema):
    id: int
    service: str
    operation: str
    units: Decimal
    unit_name: str
    audio_seconds: Decimal | None = Field(
        None, description="seconds of audio the call produced (TTS); null for other usage"
    )
    cost_usd: Decimal
    created_at: datetime


class WebhookDeliveryOut(Schema):
    attempt: int
    event: str
    status_code: int | None
    error: str
    duration_ms: int | None
    delivered: bool
    created_at: datetime


class JobSummary(Schema):
    id: UUID
    job_type: str
    status: str
    progress: float
    stage: str
    stage_label: str
    eta_seconds: float | None
    attempts: int
    max_attempts: int
    error: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class JobOut(JobSummary):
    params: dict[str, Any]
    result: dict[str, Any] | None
    run_after: datetime | None
    heartbeat_at: datetime | None
    # An imported (prototype) job is kept by retention unless EF_EXPIRE_IMPORTED_JOBS is set.
    imported: bool
    expires_at: datetime | None
    files: list[JobFileOut]
    costs: list[CostOut]
    webhook_deliveries: list[WebhookDeliveryOut] = []


class JobPage(Schema):
    total: int
    limit: int
    offset: int
    items: list[JobSummary]


class JobCreated(Schema):
    job_id: UUID
    status: str
    status_url: str
    events_url: str

    @staticmethod
    def for_job(job) -> "JobCreated":
        return JobCreated(
            job_id=job.id,
            status=job.status,
            status_url=reverse("api:job_detail", kwargs={"job_id": job.id}),
            events_url=reverse("api:job_events", kwargs={"job_id": job.id}),
        )


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    error: ErrorBody
    detail: str = Field(description="The error's message again, as a plain string")


class DeletedOut(Schema):
    deleted: bool
    files_deleted: int
