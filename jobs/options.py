"""The options a caller may give a job at creation besides its params: when to run it (`run_at`),
its own metadata, progress webhooks and an idempotency key. Each check raises a 422 naming the
field; `jobs.services.job_create` runs them, and endpoints may run them earlier (before an upload
is probed), as they do with the callback URL.
"""

import json
import string
from datetime import datetime, timedelta

from django.utils import timezone

from core.errors import Invalid
from core.strict import IDEMPOTENCY_HEADER  # noqa: F401 - shared with the endpoints

MAX_SCHEDULE_AHEAD = timedelta(days=366)
METADATA_MAX_BYTES = 4096
IDEMPOTENCY_KEY_MAX = 255

_KEY_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation)


def validate_run_at(run_at: datetime | None, *, now: datetime | None = None) -> datetime | None:
    """When the job may start: an aware datetime, not in the past, at most a year ahead."""
    if run_at is None:
        return None
    if not isinstance(run_at, datetime):
        raise Invalid.field("run_at", "'run_at' must be an ISO 8601 date and time with a zone")
    if timezone.is_naive(run_at):
        raise Invalid.field(
            "run_at",
            "'run_at' has no time zone: give one, e.g. 2030-01-31T08:00:00Z or +02:00",
        )
    now = now or timezone.now()
    if run_at < now:
        raise Invalid.field(
            "run_at",
            f"'run_at' ({run_at.isoformat()}) is in the past (now: {now.isoformat()}); "
            "leave it out to run the job now",
        )
    if run_at > now + MAX_SCHEDULE_AHEAD:
        raise Invalid.field("run_at", f"'run_at' is more than {MAX_SCHEDULE_AHEAD.days} days ahead")
    return run_at


def parse_run_at(text: str | None, *, field: str = "run_at") -> datetime | None:
    """An ISO 8601 text (a form field, a command-line option) as a datetime, checked."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Invalid.field(
            field,
            f"'{field}' is not an ISO 8601 date and time: '{text[:40]}' "
            "(e.g. 2030-01-31T08:00:00Z)",
        ) from None
    return validate_run_at(value)


def validate_metadata(metadata) -> dict:
    """The caller's metadata: a JSON object of at most METADATA_MAX_BYTES (as compact JSON)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise Invalid.field("metadata", "'metadata' must be a JSON object")
    try:
        size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        raise Invalid.field("metadata", "'metadata' must hold JSON values only") from None
    if size > METADATA_MAX_BYTES:
        raise Invalid.field(
            "metadata",
            f"'metadata' is {size} bytes as JSON; the maximum is {METADATA_MAX_BYTES}",
        )
    return metadata


def parse_metadata(text: str | None) -> dict:
    """The `metadata` form field (JSON text) as a checked object."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid.field("metadata", f"'metadata' is not valid JSON: {exc.msg}") from None
    return validate_metadata(value)


def validate_webhook_progress(webhook_progress: bool, callback_url: str | None) -> bool:
    if webhook_progress and not callback_url:
        raise Invalid.field(
            "webhook_progress", "'webhook_progress' needs a 'callback_url' to POST the events to"
        )
    return bool(webhook_progress)


def validate_idempotency_key(key: str | None) -> str:
    """'' for none; else 1-255 visible ASCII characters."""
    if key is None:
        return ""
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not set(key) <= _KEY_CHARACTERS:
        raise Invalid.field(
            IDEMPOTENCY_HEADER,
            f"the {IDEMPOTENCY_HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII "
            "characters (letters, digits, punctuation; a UUID will do)",
        )
    return key
