"""Signed webhooks: a job's terminal status POSTed to its `callback_url`.

- Creation (jobs.services.job_create) validates the URL: http(s) only, and every address the
  host resolves to must be public, unless the host is in settings.WEBHOOK_ALLOWED_HOSTS.
- jobs.services, the one place that changes status, calls `webhook_schedule` after a terminal
  transition; that only puts a delivery on the RQ queue (after commit), so neither the worker
  nor the transition waits for the receiver.
- A delivery resolves the host again, checks the addresses again (DNS rebinding) and connects to
  the checked address itself (Host header and TLS SNI keep the name), with a short timeout, no
  redirects and no proxies. Each attempt is a WebhookDelivery row.
- Failed attempts (network error, non-2xx) are retried with exponential backoff, up to
  settings.WEBHOOK_MAX_ATTEMPTS, by `webhooks_retry_due` in the maintenance loop. It works from
  the rows (the database is the source of truth), so a delivery lost with Redis is sent too.

Signature: `X-EditFactory-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<raw body>">`
keyed with settings.WEBHOOK_SECRET; `verify_signature` is what a receiver does.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from redis.exceptions import RedisError

from jobs import queue
from jobs.errors import InvalidCallbackUrl
from jobs.models import Job, WebhookDelivery
from jobs.status import JobStatus
from media_pipeline.ops.network_errors import failure_words

logger = logging.getLogger(__name__)

EVENTS = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}
SIGNATURE_TOLERANCE = 300  # seconds: receivers reject older (or future) timestamps
RETRY_WINDOW = timedelta(days=1)  # jobs ended longer ago are not retried any more
ENTRY_POINT = "jobs.webhooks.deliver"
MAX_URL_LENGTH = 500


# --- where the engine may POST ------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str
    address: str  # the checked IP address the delivery connects to


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64's well-known and
# local-use prefixes (RFC 6052, RFC 8215), IPv4-translated (RFC 2765) and the deprecated
# IPv4-compatible form (RFC 4291). IPv4-mapped, 6to4 and Teredo have properties of their own.
_IPV4_IN_LAST_32_BITS = [
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("::/96"),
]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: a router of these forms forwards to them,
    so each must be public too (http://[2002:7f00:1::1]/ is 127.0.0.1 by 6to4)."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    found += [
        ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        for net in _IPV4_IN_LAST_32_BITS
        if ip in net and int(ip) & 0xFFFFFFFF
    ]
    return [v4 for v4 in found if v4 is not None]


def _is_public_ip(ip) -> bool:
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:  # a translation form: where it leads decides
            return all(_is_public_ip(v4) for v4 in embedded)
    return _is_public_ip(ip)


def resolve_target(url: str) -> Target:
    """Parse and resolve a callback URL; InvalidCallbackUrl when the engine must not POST there."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidCallbackUrl(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidCallbackUrl(f"callback_url is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidCallbackUrl("callback_url must be an http:// or https:// URL with a host")
    host = parsed.host.lower()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidCallbackUrl(f"callback_url host '{host}' does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if host not in settings.WEBHOOK_ALLOWED_HOSTS:
        refused = [a for a in addresses if not _is_public(a)]
        if refused:
            raise InvalidCallbackUrl(
                f"callback_url host '{host}' resolves to a non-public address ({refused[0]}); "
                "private, loopback, link-local, multicast and reserved addresses are refused"
            )
    return Target(url=parsed, host=host, address=addresses[0].split("%", 1)[0])


class CheckedUrl(str):
    """A callback URL `validate_callback_url` accepted: passed on, it is not resolved again."""


def validate_callback_url(url: str | None) -> str:
    """The URL to store on a job ('' for none); InvalidCallbackUrl (HTTP 422) when refused."""
    if not url:
        return ""
    if isinstance(url, CheckedUrl):
        return url
    resolve_target(url)
    return CheckedUrl(url)


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
def _rq_id(job_id, attempt: int) -> str:
    return f"webhook-{job_id}-{attempt}"


def _enqueue(job_id, attempt: int) -> bool:
    try:
        queue.get_queue().enqueue_call(
            ENTRY_POINT,
            args=(str(job_id), attempt),
            job_id=_rq_id(job_id, attempt),
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


def webhook_schedule(*, job_id) -> None:
    """After a terminal transition: queue the first delivery when the job has a callback URL.
    Never raises: a failure here must not undo or repeat the transition (maintenance recovers)."""
    try:
        if Job.objects.filter(id=job_id).exclude(callback_url="").exists():
            transaction.on_commit(lambda: _enqueue(job_id, 1))
    except DatabaseError as exc:
        logger.warning("webhook of job %s not scheduled now (%s); maintenance will", job_id, exc)


def backoff(attempt: int) -> float:
    """Seconds after the n-th failed attempt before the next one: base * 2**(n-1), capped."""
    return min(settings.WEBHOOK_BACKOFF_BASE * 2 ** max(attempt - 1, 0), 3600.0)


def _pending(now):
    """Ended jobs with a callback URL whose current terminal status is not delivered yet."""
    episode = WebhookDelivery.objects.filter(
        job=OuterRef("pk"), created_at__gte=OuterRef("completed_at")
    ).order_by("-attempt")
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
    count = 0
    for job in _pending(now):
        attempt = _due_attempt(job, now)
        if attempt and not queue.is_held(_rq_id(job.id, attempt)) and _enqueue(job.id, attempt):
            count += 1
    return count


# --- delivery -----------------------------------------------------------------------------------
def deliver(job_id: str, attempt: int) -> str:
    """RQ entry point: one delivery attempt."""
    close_old_connections()
    try:
        return webhook_deliver(job_id=job_id, attempt=attempt)
    finally:
        connection.close()


def payload(job: Job, event: str) -> bytes:
    body = {
        "event": event,
        "job": {
            "id": str(job.id),
            "job_type": job.job_type,
            "status": job.status,
            "progress": job.progress,
            "result": job.result,
            "error": job.error,
            "completed_at": job.completed_at,
        },
    }
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def webhook_deliver(*, job_id, attempt: int) -> str:
    """POST the job's terminal event once and record the attempt. Stale or repeated deliveries
    (the job was retried, this attempt already ran, one already succeeded) do nothing."""
    job = Job.objects.filter(id=job_id).first()
    event = EVENTS.get(job.status) if job else None
    if event is None or not job.callback_url or attempt > settings.WEBHOOK_MAX_ATTEMPTS:
        return "stale"
    episode = WebhookDelivery.objects.filter(
        job=job, created_at__gte=job.completed_at or job.created_at
    )
    if episode.filter(delivered=True).exists() or episode.filter(attempt__gte=attempt).exists():
        return "duplicate"
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
        status_code=status_code,
        error=error[:2000],
        duration_ms=int((time.monotonic() - started) * 1000),
        delivered=not error,
    )
    if error:
        logger.warning("webhook of job %s attempt %s failed: %s", job.id, attempt, error)
    return "failed" if error else "delivered"


def _post(target: Target, body: bytes, attempt: int) -> int:
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
