"""Importing the prototype's cost log into CostEntry rows, once each: an entry's identity is
the SHA-256 of its canonical JSON, kept in `details["legacy_key"]`."""

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import DatabaseError

from jobs.costs import MONEY
from jobs.legacy_common import (
    ImportReport,
    LegacyFormatError,
    LegacyRowError,
    RawRow,
    legacy_job_uuid,
    load_json,
    parse_when,
)
from jobs.models import CostEntry, Job

UNIT_NAMES = {"elevenlabs": "characters", "gemini": "frames"}
_MAX_COST = Decimal("1000000")  # CostEntry.cost_usd: 12 digits, 6 decimals
_MAX_UNITS = Decimal("100000000000")  # CostEntry.units: 14 digits, 3 decimals
_UNIT = Decimal("0.001")  # CostEntry.units' precision


def read_cost_log(path: Path) -> list[RawRow]:
    data = load_json(path)
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise LegacyFormatError('a cost log is a JSON list of entries or {"entries": [...]}')
    return [RawRow(f"entry {n}", value) for n, value in enumerate(data, 1)]


def cost_legacy_key(entry: dict) -> str:
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _decimal(value, what: str, *, maximum: Decimal, places: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LegacyRowError(f"{what} is not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise LegacyRowError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite() or number < 0 or number >= maximum:
        raise LegacyRowError(f"{what} out of range: {value!r}")
    return number.quantize(places)


def cost_entry_from_row(raw: RawRow) -> CostEntry:
    """An unsaved CostEntry (job and owner not set yet); raises LegacyRowError to skip."""
    entry = raw.value
    if not isinstance(entry, dict):
        raise LegacyRowError(f"not a JSON object but {type(entry).__name__}")
    service = str(entry.get("service") or "").strip()
    if not service or len(service) > 50:
        raise LegacyRowError("missing service" if not service else "service is too long")
    if entry.get("cost_usd") in (None, ""):
        raise LegacyRowError("missing cost_usd")
    details = entry.get("details") if entry.get("details") is not None else {}
    if not isinstance(details, dict):
        raise LegacyRowError(f"details is not a JSON object but {type(details).__name__}")
    details = {**details, "legacy_key": cost_legacy_key(entry)}
    if entry.get("job_id") not in (None, ""):
        details["legacy_job_id"] = str(entry["job_id"])
    return CostEntry(
        service=service,
        operation=str(entry.get("operation") or "")[:100],
        units=_decimal(
            entry.get("input_units", 0), "input_units", maximum=_MAX_UNITS, places=_UNIT
        ),
        unit_name=UNIT_NAMES.get(service.lower(), "units"),
        cost_usd=_decimal(entry["cost_usd"], "cost_usd", maximum=_MAX_COST, places=MONEY),
        details=details,
        created_at=parse_when(entry.get("timestamp"), "timestamp"),
    )


def legacy_costs_import(
    rows: list[RawRow],
    *,
    owner=None,
    dry_run: bool = False,
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import cost entries once each, linked to their imported job when it exists; the owner is
    `owner` or the job's. Entries whose job is not imported yet are linked when it is
    (import_jobs, or a later run of this import, links what it can)."""
    report = ImportReport(read=len(rows))
    jobs: dict[str, Job | None] = {}  # legacy job id -> imported job (one query per job)
    done = set(
        CostEntry.objects.filter(details__has_key="legacy_key").values_list(
            "details__legacy_key", flat=True
        )
    )
    for raw in rows:
        try:
            entry = cost_entry_from_row(raw)
        except LegacyRowError as exc:
            report.skipped.append((raw.label, str(exc)))
        else:
            if entry.details["legacy_key"] in done:
                report.already += 1
            else:
                done.add(entry.details["legacy_key"])
                _save_cost(entry, raw.label, report, owner=owner, jobs=jobs, dry_run=dry_run)
        on_row()
    verb = "would import" if dry_run else "imported"
    report.notes.append(
        f"total: ${report.usd:.6f} {verb} (linked ${report.usd_by_kind['linked']:.6f}, "
        f"unlinked ${report.usd_by_kind['unlinked']:.6f})"
    )
    linked = legacy_costs_link(dry_run=dry_run)
    if linked:
        report.notes.append(
            f"{'would link' if dry_run else 'linked'} {linked} cost entr(ies) imported earlier "
            "to their jobs, imported since"
        )
    return report


def legacy_costs_link(*, dry_run: bool = False, chunk: int = 500) -> int:
    """Link the imported cost entries that have no job to their job where it exists now
    (imported after them, or deleted and imported again); an entry without an owner takes the
    job's. Returns how many were (or, in a dry run, would be) linked."""
    waiting = list(
        CostEntry.objects.filter(job__isnull=True, details__has_key="legacy_job_id").values_list(
            "id", "details__legacy_job_id"
        )
    )
    linked = 0
    for start in range(0, len(waiting), chunk):
        batch = {entry: legacy_job_uuid(str(job)) for entry, job in waiting[start : start + chunk]}
        owners = dict(Job.objects.filter(id__in=set(batch.values())).values_list("id", "owner_id"))
        for entry_id, job_id in batch.items():
            if job_id not in owners:
                continue
            linked += 1
            if not dry_run:
                CostEntry.objects.filter(id=entry_id).update(job_id=job_id)
                CostEntry.objects.filter(id=entry_id, owner__isnull=True).update(
                    owner_id=owners[job_id]
                )
    return linked


def _save_cost(entry: CostEntry, label: str, report: ImportReport, *, owner, jobs, dry_run):
    legacy_job = entry.details.get("legacy_job_id")
    if legacy_job is not None and legacy_job not in jobs:
        found = Job.objects.filter(id=legacy_job_uuid(legacy_job)).only("id", "owner_id")
        jobs[legacy_job] = found.first()
    job = jobs.get(legacy_job) if legacy_job is not None else None
    entry.job_id = job.id if job else None
    entry.owner_id = owner.pk if owner is not None else (job.owner_id if job else None)
    kind = "linked" if job else "unlinked"
    if not dry_run:
        try:
            entry.save(force_insert=True)
        except DatabaseError as exc:
            report.failed.append((label, f"database error: {exc}"))
            return
    report.imported[kind] += 1
    report.usd += entry.cost_usd
    report.usd_by_kind[kind] += entry.cost_usd
