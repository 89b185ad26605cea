"""GET /metrics: the engine's figures in Prometheus' text format (0.0.4), for staff.

Every figure is read at scrape time from a place all processes share (the database's ledgers,
Redis), never from one process's memory, so any web process answers the same:

- `ef_jobs{job_type,status}` (gauge): jobs in the database now, from the count ledger that
  database triggers keep (jobs.counts): milliseconds at any table size.
- `ef_jobs_created_total{job_type}`, `ef_jobs_ended_total{job_type,status}` (counters) and
  `ef_job_duration_seconds{job_type}` (histogram of completed jobs' run times, started to
  completed): counted by the same triggers when a job is inserted or reaches a terminal
  status, in the transaction that does it. Counters kept at completion rather than a
  histogram computed in SQL over a window: a Prometheus histogram is a set of counters that
  only grow, which `rate()` and `histogram_quantile()` expect; a windowed one shrinks as old
  jobs leave the window (read as resets) and costs a scan per scrape. Deleting jobs (retention)
  leaves their events counted.
- `ef_queue_depth{queue}`, `ef_workers`, `ef_workers_busy`: from RQ, with `ef_redis_up` 0 (and
  no queue figures) when Redis does not answer within 2 s. A queue family's depth counts its
  wake-up tokens (jobs.queue): its queued jobs are `ef_jobs{status="queued"}` of its types.
- `ef_queue_paused{queue}`, `ef_queue_concurrency_limit{queue}` (0: none): the operator's queue
  controls (jobs.models.QueueState).
- `ef_jobs_stuck` (processing jobs whose heartbeat is older than EF_HEARTBEAT_TIMEOUT),
  `ef_jobs_imported`, `ef_spend_usd{service}` (all-time paid-API spend, the spend ledger).

Access: `Authorization: Bearer <token>` with EF_METRICS_TOKEN or an API token of an active staff
user, or a staff session (the admin's login). No credentials: 401 JSON; not staff: 403 JSON.
"""

import logging
from datetime import timedelta

import django_rq
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from redis.exceptions import RedisError
from rq import Worker
from rq.utils import now as rq_now

from core.apierrors import error_body, www_authenticate
from core.auth import bearer_token, token_owner_id
from jobs.costs import spend_by_service
from jobs.counts import (
    duration_buckets,
    imported_count,
    job_counts,
    job_tallies,
)
from jobs.models import Job, QueueState
from jobs.queue import PROBE_TIMEOUT
from jobs.queues import QUEUES
from jobs.status import TERMINAL, JobStatus

logger = logging.getLogger(__name__)

NOT_STAFF = "The metrics are for staff: this user is not staff."
UNAUTHENTICATED = (
    "Authentication required: send 'Authorization: Bearer <token>' (EF_METRICS_TOKEN or a staff "
    "user's API token) or log in to the admin as staff."
)


# --- the figures --------------------------------------------------------------------------------
def _job_families():
    jobs = GaugeMetricFamily("ef_jobs", "Jobs in the database now.", labels=["job_type", "status"])
    for (job_type, status), n in sorted(job_counts().items()):
        jobs.add_metric([job_type, status], n)
    yield jobs
    yield GaugeMetricFamily(
        "ef_jobs_imported", "Jobs now in the database imported from the prototype.",
        value=imported_count(),
    )  # fmt: skip
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    yield GaugeMetricFamily(
        "ef_jobs_stuck", "Processing jobs whose heartbeat is older than the rescue timeout.",
        value=Job.objects.stale_processing(stale).count(),
    )  # fmt: skip
    yield from _tally_families()
    spend = GaugeMetricFamily(
        "ef_spend_usd", "Paid-API spend recorded, all time.", labels=["service"]
    )
    for service, usd in sorted(spend_by_service().items()):
        spend.add_metric([service], float(usd))
    yield spend


def _tally_families():
    created = CounterMetricFamily("ef_jobs_created", "Jobs created.", labels=["job_type"])
    ended = CounterMetricFamily(
        "ef_jobs_ended", "Jobs that reached a terminal status.", labels=["job_type", "status"]
    )
    runs = HistogramMetricFamily(
        "ef_job_duration_seconds", "Run time of completed jobs (started to completed).",
        labels=["job_type"],
    )  # fmt: skip
    by_type: dict[str, dict] = {}
    ends: dict[tuple[str, str], int] = {}
    for row in job_tallies():
        job_type, event, le = row["job_type"], row["event"], row["le"]
        if event == "created":
            created.add_metric([job_type], row["total"])
            continue
        ends[(job_type, event)] = ends.get((job_type, event), 0) + row["total"]
        if event == JobStatus.COMPLETED and le is not None:
            hist = by_type.setdefault(job_type, {"buckets": {}, "sum": 0.0})
            hist["buckets"][le] = hist["buckets"].get(le, 0) + row["total"]
            hist["sum"] += row["total_seconds"]
    for (job_type, status), n in sorted(ends.items()):
        if status in TERMINAL:
            ended.add_metric([job_type, status], n)
    for job_type, hist in sorted(by_type.items()):
        cumulative, buckets = 0, []
        for bound in duration_buckets():
            cumulative += hist["buckets"].get(bound, 0)
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        runs.add_metric([job_type], buckets=buckets, sum_value=hist["sum"])
    yield created
    yield ended
    yield runs


def _queue_families():
    up = GaugeMetricFamily("ef_redis_up", "1 when Redis (the queue transport) answers.")
    try:
        connection = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
        )
        depth = GaugeMetricFamily("ef_queue_depth", "Jobs waiting in RQ.", labels=["queue"])
        workers: dict[str, Worker] = {}
        cutoff = rq_now() - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_INTERVAL)
        for name in sorted(settings.RQ_QUEUES):
            queue = django_rq.get_queue(name, connection=connection)
            depth.add_metric([name], queue.count)
            for worker in Worker.all(queue=queue):  # live: beat within three heartbeats
                if worker.last_heartbeat and worker.last_heartbeat >= cutoff:
                    workers[worker.name] = worker
        busy = sum(1 for w in workers.values() if w.get_state() == "busy")
    except RedisError as exc:
        logger.warning("metrics: Redis unreachable (%s)", exc)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    yield depth
    yield GaugeMetricFamily("ef_workers", "Live RQ workers.", value=len(workers))
    yield GaugeMetricFamily("ef_workers_busy", "Live RQ workers running a job.", value=busy)


def _queue_state_families():
    """Each queue family's pause and limits (jobs.models.QueueState; 0: no limit)."""
    paused = GaugeMetricFamily(
        "ef_queue_paused", "1 while an operator has paused the queue.", labels=["queue"]
    )
    limit = GaugeMetricFamily(
        "ef_queue_concurrency_limit", "Most jobs of the queue running at once (0: none).",
        labels=["queue"],
    )  # fmt: skip
    for state in QueueState.objects.filter(name__in=QUEUES).order_by("name"):
        paused.add_metric([state.name], int(state.paused))
        limit.add_metric([state.name], state.concurrency or 0)
    yield paused
    yield limit


class EngineCollector:
    """A prometheus_client collector reading everything at scrape time."""

    def collect(self):
        yield from _job_families()
        yield from _queue_state_families()
        yield from _queue_families()


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector())
    return generate_latest(registry)


# --- access and the view ------------------------------------------------------------------------
def _refuse(status: int, code: str, message: str, headers=None) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _who(request) -> tuple[bool | None, bool]:
    """(staff?, a credential was sent): None when no valid credential names anyone."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        expected = settings.METRICS_TOKEN
        if expected and constant_time_compare(token, expected):
            return True, True
        user_id = token_owner_id(token)
        if user_id is None:
            return None, True
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        return (user is not None and user.is_staff), True
    user = request.user
    if user.is_authenticated and user.is_active:
        return user.is_staff, False
    return None, False


def metrics_view(request):
    if request.method not in ("GET", "HEAD"):
        response = _refuse(405, "method_not_allowed", f"{request.method} is not allowed: use GET.")
        response["Allow"] = "GET, HEAD"
        return response
    try:
        staff, sent = _who(request)
        if staff is None:
            message = UNAUTHENTICATED if not sent else "The token is not valid. " + UNAUTHENTICATED
            return _refuse(401, "unauthenticated", message,
                           {"WWW-Authenticate": www_authenticate(credential_sent=sent)})  # fmt: skip
        if not staff:
            return _refuse(403, "forbidden", NOT_STAFF)
        body = metrics_text()
    except DatabaseError as exc:
        logger.error("metrics: database unavailable (%s)", exc)
        return _refuse(503, "database_unavailable", "The database is unavailable; try again "
                       "shortly.", {"Retry-After": "5"})  # fmt: skip
    response = HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response["Cache-Control"] = "no-store"
    return response
