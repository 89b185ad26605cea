"""The prototype's job records: reading its files (a memory-store dump, Supabase JSON or CSV
exports, a list of jobs) into rows, and mapping each row to a LegacyJob (our type, status,
params, result and error), ready for `legacy_import` to write."""

import csv
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobs.errors import InvalidJobParams, UnknownJobType
from jobs.legacy_common import (
    LegacyFormatError,
    LegacyRowError,
    RawRow,
    legacy_job_uuid,
    load_json,
    parse_when,
)
from jobs.registry import get_job_type
from jobs.status import JobStatus

FORMATS = ("auto", "memory", "supabase-json", "supabase-csv", "list")
SOURCES = {
    "memory": "memory",
    "supabase-json": "supabase",
    "supabase-csv": "supabase",
    "list": "list",
}

INTERRUPTED = "interrupted: imported from the prototype while processing"
NOT_RUN = "imported from the prototype; not run (use --enqueue-pending)"
CANNOT_RUN = "imported from the prototype; cannot run here: {reason}"
NO_ERROR = "failed in the prototype (no error message was recorded)"

PENDING = "pending"
_INTERRUPTED = "interrupted"
STATUS_MAP = {
    "pending": PENDING,
    "queued": PENDING,
    "processing": _INTERRUPTED,
    "running": _INTERRUPTED,
    "completed": JobStatus.COMPLETED,
    "done": JobStatus.COMPLETED,
    "failed": JobStatus.FAILED,
    "error": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "canceled": JobStatus.CANCELLED,
}
# Prototype job types with an obvious counterpart; any other type is kept as it is (such jobs
# are imported terminal and never run).
TYPE_MAP = {
    "video_processing": "process",
    "video": "process",
    "voice_mute": "mute_voice",
    "tts": "tts",
    "tts_generate": "tts",
    "multi_video": "multi_video",
}
# Keys of the prototype's `data` that describe what a job produced (-> result, not params).
OUTPUT_KEYS = frozenset(
    {
        "result",
        "results",
        "output",
        "outputs",
        "output_path",
        "output_paths",
        "output_file",
        "output_url",
        "download_url",
        "final_video_path",
        "clips",
        "files",
    }
)
_FIELDS = {"id", "job_id", "job_type", "type", "status", "progress", "data"}
_FIELDS |= {"created_at", "updated_at", "result", "error"}
_PERCENT = re.compile(r"(-?\d+(?:\.\d+)?)\s*%")


# --- reading ------------------------------------------------------------------------------------
def detect_format(path: Path, data=None) -> str:
    if path.suffix.lower() == ".csv":
        return "supabase-csv"
    if isinstance(data, dict):
        return "memory"
    if isinstance(data, list):
        first = next((row for row in data if isinstance(row, dict)), {})
        return "supabase-json" if {"id", "data"} <= first.keys() else "list"
    raise LegacyFormatError("expected a JSON object {job_id: job} or a JSON list of jobs")


def read_jobs_file(path: Path, fmt: str = "auto") -> tuple[str, list[RawRow]]:
    """The rows of a legacy jobs file and its source name ("memory", "supabase" or "list")."""
    if fmt not in FORMATS:
        raise LegacyFormatError(f"unknown format '{fmt}' (one of: {', '.join(FORMATS)})")
    if fmt == "supabase-csv" or (fmt == "auto" and path.suffix.lower() == ".csv"):
        return SOURCES["supabase-csv"], _read_csv(path)
    data = load_json(path)
    fmt = detect_format(path, data) if fmt == "auto" else fmt
    if fmt == "memory":
        if not isinstance(data, dict):
            raise LegacyFormatError("a memory-store dump is a JSON object {job_id: job}")
        rows = [RawRow(f"row {n}", v, str(k)) for n, (k, v) in enumerate(data.items(), 1)]
        return SOURCES[fmt], rows
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        data = data["jobs"]
    if not isinstance(data, list):
        raise LegacyFormatError(f"a {fmt} file is a JSON list of jobs")
    return SOURCES[fmt], [RawRow(f"row {n}", v) for n, v in enumerate(data, 1)]


def _read_csv(path: Path) -> list[RawRow]:
    with path.open(encoding="utf-8-sig", newline="") as fh:  # -sig: spreadsheet exports
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise LegacyFormatError("a Supabase CSV export has a header row with an 'id' column")
        # CSV cells are text: an empty cell is a missing value.
        return [
            RawRow(f"row {n} (line {reader.line_num})", {k: v for k, v in row.items() if v})
            for n, row in enumerate(reader, 1)
        ]


# --- mapping ------------------------------------------------------------------------------------
def parse_progress(value) -> tuple[float | None, str]:
    """(percent or None, stage label) from the prototype's progress: a number, "50%" or free
    text such as "Processing segment 3/10" (kept as the label, no percent)."""
    if value is None or isinstance(value, bool):
        return None, ""
    if isinstance(value, int | float):
        return _clamp(value), ""
    text = str(value).strip()
    match = _PERCENT.search(text)
    if match:
        return _clamp(float(match.group(1))), text[:200]
    try:
        return _clamp(float(text)), text[:200]
    except ValueError:
        return None, text[:200]


def _clamp(percent: float) -> float:
    return max(0.0, min(100.0, float(percent)))


@dataclass
class LegacyJob:
    row: str
    legacy_id: str
    source: str
    legacy_type: str
    legacy_status: str
    job_type: str
    status: str  # ours, or PENDING until the import decides
    progress: float
    stage_label: str
    params: dict
    result: dict
    error: str
    created_at: datetime
    completed_at: datetime | None

    @property
    def id(self) -> uuid.UUID:
        return legacy_job_uuid(self.legacy_id)


def legacy_job_from_row(raw: RawRow, *, source: str) -> LegacyJob:
    """Map one row; raises LegacyRowError (with the reason) for a row to skip."""
    row = raw.value
    if not isinstance(row, dict):
        raise LegacyRowError(f"not a JSON object but {type(row).__name__}")
    legacy_id = _legacy_id(raw.key if raw.key is not None else row.get("id", row.get("job_id")))
    legacy_status = str(row.get("status") or "").strip().lower()
    if legacy_status not in STATUS_MAP:
        raise LegacyRowError(f"unknown status {row.get('status')!r}")
    legacy_type = str(row.get("job_type") or row.get("type") or "").strip()
    if not legacy_type or len(legacy_type) > 50:
        raise LegacyRowError("missing job_type" if not legacy_type else "job_type is too long")
    data = _data(row)
    created_at = parse_when(row.get("created_at"), "created_at")
    updated_at = parse_when(row.get("updated_at"), "updated_at", required=False)
    percent, label = parse_progress(row.get("progress"))
    status = STATUS_MAP[legacy_status]
    outputs = {k: v for k, v in data.items() if k in OUTPUT_KEYS and v is not None}
    if row.get("result") is not None:
        outputs.setdefault("result", row["result"])
    error = str(data.get("error") or row.get("error") or "")
    legacy = {"id": legacy_id, "source": source, "status": legacy_status, "job_type": legacy_type}
    legacy["progress"] = row.get("progress")
    if status == JobStatus.COMPLETED:
        percent = 100.0
    elif error and status != JobStatus.FAILED:
        legacy["error"] = error  # a message on a non-failed job is history, not our error
    return LegacyJob(
        row=raw.label,
        legacy_id=legacy_id,
        source=source,
        legacy_type=legacy_type,
        legacy_status=legacy_status,
        job_type=TYPE_MAP.get(legacy_type, legacy_type),
        status=JobStatus.FAILED if status == _INTERRUPTED else status,
        progress=percent or 0.0,
        stage_label=label,
        params={k: v for k, v in data.items() if k not in OUTPUT_KEYS and k != "error"},
        result={**outputs, "legacy": legacy},
        error=_error_for(status, error),
        created_at=created_at,
        completed_at=None if status == PENDING else (updated_at or created_at),
    )


def _legacy_id(value) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise LegacyRowError("missing id")
    return str(value).strip()


def _data(row: dict) -> dict:
    """The prototype's `data` (an object, or a JSON string in the CSV export) plus any field
    the memory store kept at the top level."""
    data = row.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise LegacyRowError(f"data is not valid JSON ({exc.msg})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LegacyRowError(f"data is not a JSON object but {type(data).__name__}")
    extra = {k: v for k, v in row.items() if k not in _FIELDS}
    return {**extra, **data}


def _error_for(status: str, error: str) -> str:
    if status == _INTERRUPTED:
        return INTERRUPTED
    if status == JobStatus.FAILED:
        return (error or NO_ERROR)[:5000]
    return ""


def runnable_params(item: LegacyJob) -> tuple[dict | None, str]:
    """(params valid for the job type, "") or (None, why it cannot run). Only the keys the
    type's schema knows are kept: the prototype stored more (paths, ids) in the same dict."""
    try:
        jt = get_job_type(item.job_type)
    except UnknownJobType:
        return None, f"job type '{item.job_type}' does not exist here"
    known = {k: v for k, v in item.params.items() if k in jt.params_schema.model_fields}
    try:
        return jt.parse_params(known).model_dump(mode="json"), ""
    except InvalidJobParams as exc:
        problems = "; ".join(f"{'.'.join(d['loc'][1:])}: {d['msg']}" for d in exc.details)
        return None, f"invalid params ({problems})"
