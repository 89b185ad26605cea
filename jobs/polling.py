"""The job detail answer clients poll, on precompiled queries (see core.compiled_query).

Used by GET /api/v1/jobs/{id} (the ninja view and its ASGI fast path) and by the cancel and
retry endpoints, so the detail shape has one builder.
"""

from uuid import UUID

from django.urls import reverse

from core.compiled_query import CompiledQuery
from core.media_urls import signed_url
from jobs.models import CostEntry, Job, JobFile, WebhookDelivery
from jobs.schemas import CostOut, JobFileOut, JobOut, WebhookDeliveryOut

# expires_at is derived from the row (Job.expires_at), not stored.
_DERIVED = {"files", "costs", "webhook_deliveries", "expires_at"}
_JOB_FIELDS = [name for name in JobOut.model_fields if name not in _DERIVED]
_FILE_FIELDS = ["id", "job_id", "role", "label", "size", "content_type", "created_at"]
_COST_FIELDS = list(CostOut.model_fields)
_DELIVERY_FIELDS = list(WebhookDeliveryOut.model_fields)

_JOB = CompiledQuery(
    lambda owner_id, job_id: (
        Job.objects.filter(id=job_id, owner_id=owner_id).order_by().values(*_JOB_FIELDS)
    ),
    owner_id=Job._meta.get_field("owner"),
    job_id=Job._meta.pk,
)
_FILES = CompiledQuery(
    lambda job_id: (
        JobFile.objects.filter(job_id=job_id).order_by("created_at", "id").values(*_FILE_FIELDS)
    ),
    job_id=JobFile._meta.get_field("job"),
)
_COSTS = CompiledQuery(
    lambda job_id: (
        CostEntry.objects.filter(job_id=job_id).order_by("-created_at").values(*_COST_FIELDS)
    ),
    job_id=CostEntry._meta.get_field("job"),
)

_DELIVERIES = CompiledQuery(
    lambda job_id: (
        WebhookDelivery.objects.filter(job_id=job_id)
        .order_by("created_at", "id")
        .values(*_DELIVERY_FIELDS)
    ),
    job_id=WebhookDelivery._meta.get_field("job"),
)


def _file_out(row: dict, owner_id: int) -> JobFileOut:
    path = reverse("api:job_file_download", kwargs={"job_id": row["job_id"], "file_id": row["id"]})
    url = signed_url(path, owner_id=owner_id)  # opens in <a download>/<video> with no header
    return JobFileOut(**{k: v for k, v in row.items() if k != "job_id"}, download_url=url)


def job_detail(*, owner_id: int, job_id: UUID) -> JobOut | None:
    """The owner's job with its files, costs and webhook deliveries, or None (unknown or someone else's)."""
    row = _JOB.first(owner_id=owner_id, job_id=job_id)
    if row is None:
        return None
    ended = Job(
        status=row["status"],
        completed_at=row["completed_at"],
        created_at=row["created_at"],
        imported=row["imported"],
    )
    return JobOut(
        **row,
        expires_at=ended.expires_at,
        files=[_file_out(f, owner_id) for f in _FILES.fetch(job_id=job_id)],
        costs=[CostOut(**c) for c in _COSTS.fetch(job_id=job_id)],
        webhook_deliveries=[WebhookDeliveryOut(**d) for d in _DELIVERIES.fetch(job_id=job_id)],
    )
