"""The job detail answer clients poll, on plain parameterised SQL (see core.plainsql).

Used by GET /api/v1/jobs/{id} (the ninja view and the polling fast path, editfactory.fastpoll)
and by the cancel and retry endpoints, so the detail shape has one builder.
"""

from uuid import UUID

from django.urls import reverse

from core.media_urls import signed_url
from core.plainsql import Select
from jobs.models import CostEntry, Job, JobFile, JobRowTimes, WebhookDelivery
from jobs.schemas import CostOut, JobFileOut, JobOut, WebhookDeliveryOut
from jobs.services.positions import PLACE_FIELDS, place_fields, queue_place

# expires_at and scheduled_for are derived from the row (Job's properties), not stored; the
# queue place is counted (jobs.services.positions).
_DERIVED = {"files", "costs", "webhook_deliveries", "expires_at", "scheduled_for", *PLACE_FIELDS}
_JOB_FIELDS = [name for name in JobOut.model_fields if name not in _DERIVED]
_FILE_FIELDS = ["id", "role", "label", "size", "content_type", "created_at"]

_JOB = Select(Job, _JOB_FIELDS, 'WHERE "id" = %s AND "owner_id" = %s')
_FILES = Select(JobFile, _FILE_FIELDS, 'WHERE "job_id" = %s ORDER BY "created_at", "id"')
_COSTS = Select(
    CostEntry, list(CostOut.model_fields), 'WHERE "job_id" = %s ORDER BY "created_at" DESC'
)
_DELIVERIES = Select(
    WebhookDelivery,
    list(WebhookDeliveryOut.model_fields),
    'WHERE "job_id" = %s ORDER BY "created_at", "id"',
)


_PLACE_INPUTS = ("job_type", "status", "priority", "created_at", "run_after")
_TIME_INPUTS = ("status", "attempts", "completed_at", "created_at", "imported", "run_after")


def _file_out(row: dict, job_id: UUID, owner_id: int) -> JobFileOut:
    path = reverse("api:job_file_download", kwargs={"job_id": job_id, "file_id": row["id"]})
    url = signed_url(path, owner_id=owner_id)  # opens in <a download>/<video> with no header
    return JobFileOut.model_construct(**row, download_url=url)


def job_detail(*, owner_id: int, job_id: UUID) -> JobOut | None:
    """The owner's job with its files, costs and webhook deliveries, or None (unknown or someone else's)."""
    row = _JOB.first(job_id, owner_id)
    if row is None:
        return None
    times = JobRowTimes(**{name: row[name] for name in _TIME_INPUTS})
    place = queue_place(job_id=row["id"], owner_id=owner_id, **{k: row[k] for k in _PLACE_INPUTS})
    # Built without validation (a third of a poll's CPU): every value comes typed from its
    # column (core.plainsql). tests/core/test_plainsql.py compares each value with the ORM's,
    # tests/jobs/test_fastpoll.py the answer with the one Django's full handler gives.
    return JobOut.model_construct(
        **row,
        **place_fields(place, row["job_type"]),
        expires_at=times.expires_at,
        scheduled_for=times.scheduled_for,
        files=[_file_out(f, job_id, owner_id) for f in _FILES.fetch(job_id)],
        costs=[CostOut.model_construct(**c) for c in _COSTS.fetch(job_id)],
        webhook_deliveries=[
            WebhookDeliveryOut.model_construct(**d) for d in _DELIVERIES.fetch(job_id)
        ],
    )
