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
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from jobs import queue
from jobs.legacy_common import ImportReport, LegacyRowError, RawRow
from jobs.legacy_costs import legacy_costs_link
from jobs.legacy_jobs import (
    CANNOT_RUN,
    NOT_RUN,
    PENDING,
    LegacyJob,
    legacy_job_from_row,
    runnable_params,
)
from jobs.models import DeletedImport, Job
from jobs.registry import get_job_type
from jobs.status import JobStatus

logger = logging.getLogger(__name__)


def legacy_jobs_import(
    rows: list[RawRow],
    *,
    source: str,
    owner=None,
    enqueue_pending: bool = False,
    restore_deleted: bool = False,
    dry_run: bool = False,
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import legacy jobs once each. Pending jobs become queued and are enqueued after commit
    only with `enqueue_pending`; without it they are imported cancelled (a queued row would be
    picked up by the reconciler). A job imported before and deleted here since is not brought
    back unless `restore_deleted`. Cost entries imported before their jobs are linked to them."""
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
    existing = _ids_in(Job.objects, "id", [item.id for item in items])
    deleted = _ids_in(DeletedImport.objects, "job_id", [item.id for item in items])
    for item in items:
        if item.id in existing:
            report.already += 1
        elif item.id in deleted and not restore_deleted:
            report.deleted_earlier += 1
        else:
            _import_one(item, report, owner=owner, enqueue=enqueue_pending, dry_run=dry_run)
        on_row()
    report.notes.append(_retention_note(report))
    linked = legacy_costs_link(dry_run=dry_run)
    if linked:
        verb = "would link" if dry_run else "linked"
        report.notes.append(f"costs: {verb} {linked} cost entr(ies) imported before their job")
    return report


def _ids_in(manager, column: str, ids: list[uuid.UUID], chunk: int = 500) -> set[uuid.UUID]:
    found = set()
    for start in range(0, len(ids), chunk):
        batch = ids[start : start + chunk]
        found.update(manager.filter(**{f"{column}__in": batch}).values_list(column, flat=True))
    return found


def _retention_note(report: ImportReport) -> str:
    """What retention will do with the imported jobs, under the current settings."""
    if not settings.EXPIRE_IMPORTED_JOBS:
        return (
            "retention: imported jobs are kept (EF_EXPIRE_IMPORTED_JOBS is off): neither the "
            "maintenance loop nor cleanup_jobs deletes them; cleanup_jobs --older-than-days N "
            "--include-imported does, when asked"
        )
    return (
        f"retention: imported jobs expire like the others (EF_EXPIRE_IMPORTED_JOBS=1, "
        f"EF_JOB_RETENTION_DAYS={settings.JOB_RETENTION_DAYS:g}): {report.past_retention} of "
        "these ended longer ago and the next cleanup deletes them"
    )


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
    expires = _expires_at(item) if timeout is None else None
    report.past_retention += expires is not None and expires <= timezone.now()


def _expires_at(item: LegacyJob):
    """When retention will delete the imported row (the one age rule: see Job.expires_at)."""
    return Job(
        status=item.status,
        completed_at=item.completed_at,
        created_at=item.created_at,
        imported=True,
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
        imported=True,
    )
    with transaction.atomic():
        DeletedImport.objects.filter(job_id=job.id).delete()  # restored on purpose, if it was
        job.save(force_insert=True)
        if terminal:  # keep the prototype's last update time (auto_now set it to now)
            Job.objects.filter(id=job.id).update(updated_at=item.completed_at)
        else:
            transaction.on_commit(lambda: queue.enqueue(job.id, timeout=enqueue_timeout))
    return job
