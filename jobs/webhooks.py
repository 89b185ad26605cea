"""Signed webhooks: a job's terminal status, and optionally its progress, POSTed to its
`callback_url`, with the caller's metadata and the job's cost.

- Creation (jobs.services.job_create) validates the URL (jobs.webhook_urls): http(s) only, and
  every address the host resolves to must be public, unless the host is in
  settings.WEBHOOK_ALLOWED_HOSTS.
- jobs.services, the one place that changes status, calls `webhook_schedule` after a terminal
  transition; that only puts a delivery on the RQ queue (after commit), so neither the worker
  nor the transition waits for the receiver. A job created with `webhook_progress` also gets
  `job.progress` events: the worker queues one at each new 10 % step, at most every
  settings.WEBHOOK_PROGRESS_INTERVAL seconds (jobs.webhook_progress).
- A delivery resolves the host again, checks the addresses again (DNS rebinding) and connects to
  the checked address itself (Host header and TLS SNI keep the name), with a short timeout, no
  redirects and no proxies. Each attempt is a WebhookDelivery row.
- Failed attempts (network error, non-2xx) are retried with exponential backoff, up to
  settings.WEBHOOK_MAX_ATTEMPTS, by `webhooks_retry_due` in the maintenance loop. It works from
  the rows (the database is the source of truth), so a delivery lost with Redis is sent too. A
  progress event is retried only while the job still runs and no later step was sent.

Signature: `X-EditFactory-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<raw body>">`
keyed with settings.WEBHOOK_SECRET; `verify_signature` is what a receiver does.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from redis.exceptions import RedisError

from jobs import queue
from jobs.costs import cost_total
from jobs.errors import InvalidCallbackUrl
from jobs.models import CostEntry, Job, WebhookDelivery
from jobs.status import JobStatus
from jobs.webhook_urls import Target, resolve_target
from media_pipeline.ops.network_errors import failure_words

logger = logging.getLogger(__name__)

EVENTS = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}
PROGRESS = "job.progress"
SIGNATURE_TOLERANCE = 300  # seconds: receivers reject older (or future) timestamps
RETRY_WINDOW = timedelta(days=1)  # jobs ended longer ago are not retried any more
ENTRY_POINT = "jobs.webhooks.deliver"


# --- signatures ---------------------------------------------------------------------------------
def sign(timestamp: str, body: bytes, *, secret: str | None = None) -> str:
    key = (secret or settings.WEBHOOK_SECRET).encode()
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    body: bytes, header: str, *, secret: str | None = None, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC over "<t>.<body>", compare in constant time, and
    refuse timestamps more than 5 minutes away (a replayed old delivery)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = parts["t"]
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except (KeyError, ValueError):
        return False
    if age > SIGNATURE_TOLERANCE:
        return False
    return hmac.compare_digest(
        sign(timestamp, body, secret=secret), f"t={timestamp},v1={parts.get('v1', '')}"
    )


# --- scheduling ---------------------------------------------------------------------------------
def _rq_id(job_id, attempt: int, step: int | None = None) -> str:
    if step is None:
        return f"webhook-{job_id}-{attempt}"
    return f"webhook-{job_id}-progress-{step}-{attempt}"


def _enqueue(job_id, attempt: int, step: int | None = None) -> bool:
    try:
        queue.get_queue().enqueue_call(
            ENTRY_POINT,
            args=(str(job_id), attempt) if step is None else (str(job_id), attempt, step),
            job_id=_rq_id(job_id, attempt, step),
            timeout=int(settings.WEBHOOK_TIMEOUT) + 30,
            result_ttl=0,
            failure_ttl=24 * 3600,
        )
    except RedisError as exc:
        logger.warning(
            "could not enqueue webhook of job %s (%s); maintenance will retry", job_id, exc
        )
        return False
    return True


def webhook_schedule(*, job: Job) -> None:
    """After a terminal transition (inside its transaction, given the row it wrote): queue the
    first delivery after commit when the job has a callback URL."""
    if job.callback_url:
        job_id = job.id
        transaction.on_commit(lambda: _enqueue(job_id, 1))


def webhook_progress_schedule(*, job_id, step: int) -> bool:
    """Queue a job.progress delivery for the step a running job reached (the worker decides
    when: jobs.webhook_progress). False when Redis refused it (the next step will try again)."""
    return _enqueue(job_id, 1, step)


def backoff(attempt: int) -> float:
    """Seconds after the n-th failed attempt before the next one: base * 2**(n-1), capped."""
    return min(settings.WEBHOOK_BACKOFF_BASE * 2 ** max(attempt - 1, 0), 3600.0)


def _terminal_episode(job, since):
    """The deliveries of the job's current terminal status, the one it reached at `since`."""
    return WebhookDelivery.objects.filter(job=job, step__isnull=True, created_at__gte=since)


def _pending(now):
    """Ended jobs with a callback URL whose current terminal status is not delivered yet."""
    episode = _terminal_episode(OuterRef("pk"), OuterRef("completed_at")).order_by("-attempt")
    return (
        Job.objects.terminal()
        .exclude(callback_url="")
        .filter(completed_at__gte=now - RETRY_WINDOW)
        .annotate(
            delivered=Exists(episode.filter(delivered=True)),
            last_attempt=Subquery(episode.values("attempt")[:1]),
            last_at=Subquery(episode.values("created_at")[:1]),
        )
        .filter(delivered=False)
        .only("id", "completed_at")
    )


def _progress_episode(job, since):
    """The job.progress deliveries of the job's attempt that started at `since`."""
    return WebhookDelivery.objects.filter(job=job, step__isnull=False, created_at__gte=since)


def _progress_pending():
    """Running jobs whose latest progress delivery failed: (job, its step, its attempt, when)."""
    latest = _progress_episode(OuterRef("pk"), OuterRef("started_at")).order_by(
        "-created_at", "-id"
    )
    return (
        Job.objects.filter(status=JobStatus.PROCESSING, webhook_progress=True)
        .exclude(callback_url="")
        .annotate(
            last_step=Subquery(latest.values("step")[:1]),
            last_attempt=Subquery(latest.values("attempt")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
            last_delivered=Subquery(latest.values("delivered")[:1]),
        )
        .filter(last_delivered=False)
        .only("id")
    )


def _due_attempt(job, now) -> int | None:
    if job.last_attempt is None:  # the first delivery was never made (lost with Redis?)
        grace = timedelta(seconds=settings.JOB_RECONCILE_GRACE)
        return 1 if job.completed_at <= now - grace else None
    if job.last_attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        return None
    if job.last_at + timedelta(seconds=backoff(job.last_attempt)) <= now:
        return job.last_attempt + 1
    return None


def webhooks_retry_due(*, now=None) -> int:
    """Maintenance: queue the deliveries whose backoff is over. Returns how many."""
    now = now or timezone.now()
    due = [(job.id, _due_attempt(job, now), None) for job in _pending(now)]
    due += [(job.id, _due_attempt(job, now), job.last_step) for job in _progress_pending()]
    count = 0
    for job_id, attempt, step in due:
        if attempt and not queue.is_held(_rq_id(job_id, attempt, step)):
            count += _enqueue(job_id, attempt, step)
    return count


# --- delivery -----------------------------------------------------------------------------------
def deliver(job_id: str, attempt: int, step: int | None = None) -> str:
    """RQ entry point: one delivery attempt (of a job.progress event when `step` is given)."""
    close_old_connections()
    try:
        return webhook_deliver(job_id=job_id, attempt=attempt, step=step)
    finally:
        connection.close()


def payload(job: Job, event: str) -> bytes:
    """The body: the event, and the job as it is now with the caller's metadata and its cost so
    far (the sum of its cost entries, exact, as a decimal string in USD)."""
    body = {
        "event": event,
        "job": {
            "id": str(job.id),
            "job_type": job.job_type,
            "status": job.status,
            "progress": job.progress,
            "stage": job.stage,
            "stage_label": job.stage_label,
            "eta_seconds": job.eta_seconds,
            "result": job.result,
            "error": job.error,
            "completed_at": job.completed_at,
            "metadata": job.metadata,
            "cost_usd": cost_total(CostEntry.objects.filter(job_id=job.id)),
        },
    }
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def _refusal(job: Job | None, attempt: int, step: int | None) -> str | None:
    """Why this delivery must not be made ('stale', 'duplicate'), or None."""
    if job is None or not job.callback_url or attempt > settings.WEBHOOK_MAX_ATTEMPTS:
        return "stale"
    if step is None:
        if job.status not in EVENTS:
            return "stale"
        episode = _terminal_episode(job, job.completed_at or job.created_at)
    else:
        if job.status != JobStatus.PROCESSING or not job.webhook_progress:
            return "stale"  # ended (its terminal event says the rest) or retried since
        episode = _progress_episode(job, job.started_at or job.created_at)
        if episode.filter(step__gt=step).exists():
            return "stale"  # a later step was sent: this one says nothing new
        episode = episode.filter(step=step)
    if episode.filter(Q(delivered=True) | Q(attempt__gte=attempt)).exists():
        return "duplicate"
    return None


def webhook_deliver(*, job_id, attempt: int, step: int | None = None) -> str:
    """POST the job's event once and record the attempt: its terminal event, or with `step` a
    job.progress event. Stale or repeated deliveries (the job was retried or has ended, this
    attempt already ran, one already succeeded, a later step was sent) do nothing."""
    import httpx  # here: deliveries run in work horses; the worker itself never needs httpx

    job = Job.objects.filter(id=job_id).first()
    refusal = _refusal(job, attempt, step)
    if refusal:
        return refusal
    event = PROGRESS if step is not None else EVENTS[job.status]
    body = payload(job, event)
    started = time.monotonic()
    status_code, error = None, ""
    try:
        status_code = _post(resolve_target(job.callback_url), body, attempt)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except InvalidCallbackUrl as exc:  # the name now resolves somewhere private: rebinding
        error = str(exc)
    except httpx.HTTPError as exc:
        error = failure_words(exc)
    WebhookDelivery.objects.create(
        job=job,
        attempt=attempt,
        url=job.callback_url,
        event=event,
        step=step,
        status_code=status_code,
        error=error[:2000],
        duration_ms=int((time.monotonic() - started) * 1000),
        delivered=not error,
    )
    if error:
        logger.warning("webhook %s of job %s attempt %s failed: %s", event, job.id, attempt, error)
    return "failed" if error else "delivered"


def _post(target: Target, body: bytes, attempt: int) -> int:
    import httpx

    timestamp = str(int(time.time()))
    headers = {
        "Host": target.url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "EditFactory-Webhooks/1",
        "X-EditFactory-Timestamp": timestamp,
        "X-EditFactory-Signature": sign(timestamp, body),
        "X-EditFactory-Attempt": str(attempt),
    }
    # Connect to the address just checked, not to whatever the name resolves to next.
    pinned = target.url.copy_with(host=target.address)
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    with httpx.Client(
        timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False
    ) as client:
        response = client.post(pinned, content=body, headers=headers, extensions=extensions)
    return response.status_code
