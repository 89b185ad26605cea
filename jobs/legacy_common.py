"""What importing the prototype's jobs and its cost log share: reading a JSON file, rows and
their errors, timestamps, the engine id of a legacy job, and the report an import returns."""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.utils import timezone
from django.utils.dateparse import parse_datetime

# Fixed forever: changing it would make a second import duplicate every non-UUID job.
LEGACY_NAMESPACE = uuid.UUID("6f1c6a52-3d0e-5b7a-9a4e-0b2f6c1d8e11")


class LegacyFormatError(ValueError):
    """The file as a whole cannot be read in the chosen format."""


class LegacyRowError(ValueError):
    """One row is malformed: it is skipped with this reason."""


@dataclass(frozen=True)
class RawRow:
    label: str  # "row 3" (1-based), for the report
    value: object
    key: str | None = None  # the memory store's dict key (the job id)


def load_json(path: Path):
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise LegacyFormatError(f"{path.name} is not valid JSON: {exc}") from None


def legacy_job_uuid(legacy_id) -> uuid.UUID:
    """The engine id of a legacy job id (also used to link imported cost entries)."""
    text = str(legacy_id).strip()
    try:
        return uuid.UUID(text)
    except ValueError:
        return uuid.uuid5(LEGACY_NAMESPACE, text)


def parse_when(value, what: str, *, required: bool = True) -> datetime | None:
    """An ISO-8601 string (naive means UTC) or epoch seconds."""
    if value in (None, ""):
        if required:
            raise LegacyRowError(f"missing {what}")
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        when = parse_datetime(str(value).strip()) if isinstance(value, str) else None
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None:
        raise LegacyRowError(f"bad {what} {value!r}")
    return when if timezone.is_aware(when) else timezone.make_aware(when, UTC)


@dataclass
class ImportReport:
    read: int = 0
    imported: Counter = field(default_factory=Counter)  # by the status it was imported in
    already: int = 0
    deleted_earlier: int = 0  # imported once, deleted here since: not brought back
    enqueued: int = 0
    past_retention: int = 0  # imported terminal jobs the next cleanup deletes (when they expire)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what will happen to what was imported
    usd: Decimal = Decimal(0)  # cost entries: the total imported
    usd_by_kind: Counter = field(default_factory=Counter)

    @property
    def accounted(self) -> int:
        return (
            sum(self.imported.values())
            + self.already
            + self.deleted_earlier
            + len(self.skipped)
            + len(self.failed)
        )
