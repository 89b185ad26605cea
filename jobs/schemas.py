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
    step: int | None = Field(
        None, description="job.progress events: the 10 % step that sent it; null otherwise"
    )
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
    scheduled_for: datetime | None = Field(
        None,
        description="a job created with `run_at`: when it may start, while it waits for its "
        "first attempt (status `queued`); null otherwise",
    )


class JobOut(JobSummary):
    params: dict[str, Any]
    result: dict[str, Any] | None
    metadata: dict[str, Any] = Field(
        description="your own JSON object given at creation, echoed in every webhook"
    )
    webhook_progress: bool = Field(description="job.progress webhooks were asked for")
    idempotency_key: str = Field(description="the Idempotency-Key it was created with, or ''")
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
    scheduled_for: datetime | None = Field(
        None, description="when a job created with `run_at` may start; null otherwise"
    )

    @staticmethod
    def for_job(job) -> "JobCreated":
        return JobCreated(
            job_id=job.id,
            status=job.status,
            status_url=reverse("api:job_detail", kwargs={"job_id": job.id}),
            events_url=reverse("api:job_events", kwargs={"job_id": job.id}),
            scheduled_for=job.scheduled_for,
        )


class JobEventOut(Schema):
    kind: str = Field(
        description="queued, started, retrying, rescued, completed, failed or cancelled"
    )
    attempt: int = Field(description="the job's attempt number at this event (0: not run yet)")
    worker: str = Field(description="the worker of the attempt (host:pid), '' when none")
    at: datetime
    error: str = Field(description="failed, retrying, rescued: the attempt's error")


class JobAttemptOut(Schema):
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    worker: str
    outcome: str = Field(
        description="completed, failed, retrying, rescued, cancelled; running while it runs"
    )
    error: str


class JobHistoryOut(Schema):
    job_id: UUID
    status: str
    attempts: list[JobAttemptOut] = Field(description="each attempt, in the order they ran")
    events: list[JobEventOut] = Field(description="every status change, oldest first")


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
