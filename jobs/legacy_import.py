"""Importing the FastAPI prototype's jobs: writing the rows `legacy_jobs` read and mapped, once
each, kept out of the management command so it is testable on its own (the cost log:
`legacy_costs`; what both share: `legacy_common`).

Idempotency rests on the job id: a legacy id that is a UUID becomes `Job.id`; any other id is
mapped to `uuid5(LEGACY_NAMESPACE, id)`, so every run (and `import_costs`) finds the same row.
Where the job came from is kept in `Job.result["legacy"]` = {id, source, status, job_type,
progress}: params must stay valid for the job type (its schema forbids extra keys), so they
cannot carry it. A job enqueued with --enqueue-pending gets its real result when it runs; its id
still says where it came from.
"""

import logging
import uuid
from collections.abc import Callable, Iterable

from django.db import DatabaseError, transaction
from django.utils import timezone

from jobs import queue
from jobs.legacy_common import ImportReport, LegacyRowError, RawRow
from jobs.legacy_jobs import (
    CANNOT_RUN,
    NOT_RUN,
    PENDING,
    LegacyJob,
    legacy_job_from_row,
    runnable_params,
)
from jobs.models import Job
from jobs.registry import get_job_type
from jobs.status import JobStatus

logger = logging.getLogger(__name__)


def legacy_jobs_import(
    rows: list[RawRow],
    *,
    source: str,
    owner=None,
    enqueue_pending: bool = False,
    dry_run: bool = False,
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import legacy jobs once each. Pending jobs become queued and are enqueued after commit
    only with `enqueue_pending`; without it they are imported cancelled (a queued row would be
    picked up by the reconciler)."""
    report = ImportReport(read=len(rows))
    items, seen = [], set()
    for raw in rows:
        try:
            item = legacy_job_from_row(raw, source=source)
        except LegacyRowError as exc:
            report.skipped.append((raw.label, str(exc)))
            on_row()
            continue
        if item.id in seen:
            report.skipped.append((raw.label, f"duplicate of an earlier row (id {item.legacy_id})"))
            on_row()
            continue
        seen.add(item.id)
        items.append(item)
    existing = _existing_ids(item.id for item in items)
    for item in items:
        if item.id in existing:
            report.already += 1
        else:
            _import_one(item, report, owner=owner, enqueue=enqueue_pending, dry_run=dry_run)
        on_row()
    return report


def _existing_ids(ids: Iterable[uuid.UUID], chunk: int = 500) -> set[uuid.UUID]:
    ids, found = list(ids), set()
    for start in range(0, len(ids), chunk):
        batch = ids[start : start + chunk]
        found.update(Job.objects.filter(id__in=batch).values_list("id", flat=True))
    return found


def _import_one(item: LegacyJob, report: ImportReport, *, owner, enqueue: bool, dry_run: bool):
    timeout = None
    if item.status == PENDING:
        timeout = _decide_pending(item, enqueue=enqueue)
    if not dry_run:
        try:
            job_import_legacy(item=item, owner=owner, enqueue_timeout=timeout)
        except DatabaseError as exc:
            logger.warning("legacy job %s (%s) not imported: %s", item.legacy_id, item.row, exc)
            report.failed.append((item.row, f"database error: {exc}"))
            return
    report.imported[item.status] += 1
    report.enqueued += timeout is not None
    if timeout is None and _expires_at(item) <= timezone.now():
        report.past_retention += 1


def _expires_at(item: LegacyJob):
    """When retention will delete the imported row (the one age rule: see Job.expires_at)."""
    return Job(
        status=item.status, completed_at=item.completed_at, created_at=item.created_at
    ).expires_at


def _decide_pending(item: LegacyJob, *, enqueue: bool) -> int | None:
    """Settle a pending job's status; the RQ timeout when it is to be enqueued, else None."""
    now = timezone.now()
    if not enqueue:
        item.status, item.error, item.completed_at = JobStatus.CANCELLED, NOT_RUN, now
        return None
    params, reason = runnable_params(item)
    if params is None:
        item.status, item.completed_at = JobStatus.FAILED, now
        item.error = CANNOT_RUN.format(reason=reason)
        return None
    item.status, item.params = JobStatus.QUEUED, params
    return get_job_type(item.job_type).timeout


def job_import_legacy(*, item: LegacyJob, owner=None, enqueue_timeout: int | None = None) -> Job:
    """Insert one mapped legacy job (its id decides whether it exists already: the caller
    checks). A queued one is enqueued after commit."""
    terminal = item.status != JobStatus.QUEUED
    job = Job(
        id=item.id,
        job_type=item.job_type,
        owner=owner,
        status=item.status,
        progress=item.progress,
        stage={JobStatus.COMPLETED: "done", JobStatus.CANCELLED: "cancelled"}.get(item.status, ""),
        stage_label=item.stage_label,
        params=item.params,
        result=item.result,
        error=item.error,
        created_at=item.created_at,
        completed_at=item.completed_at if terminal else None,
    )
    with transaction.atomic():
        job.save(force_insert=True)
        if terminal:  # keep the prototype's last update time (auto_now set it to now)
            Job.objects.filter(id=job.id).update(updated_at=item.completed_at)
        else:
            transaction.on_commit(lambda: queue.enqueue(job.id, timeout=enqueue_timeout))
    return job
