"""GET /api/v1/health: is each part of the factory working? No auth, and no secrets in the answer
(errors are reported by kind, never with connection strings)."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from ninja import Router, Schema, Status
from redis.exceptions import RedisError

from core.leases import MAINTENANCE_LEASE, lease_state
from core.storage import storage_problem
from jobs.models import Job
from jobs.queue import PROBE_TIMEOUT, get_queue, live_workers, queue_depth
from jobs.status import JobStatus
from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg

logger = logging.getLogger(__name__)
router = Router(tags=["health"])


class Check(Schema):
    ok: bool
    detail: str = ""


class HealthOut(Schema):
    status: str  # ok | degraded (no live worker) | unavailable (database or Redis down)
    database: Check
    redis: Check
    ffmpeg: Check
    storage: Check  # the media storage: the local disk, or the object store's bucket answering
    # What the process answering is: `up --role` (all, web), "web" when started otherwise.
    role: str
    # Whether a maintenance loop (on any host) holds its lease now; who, on the admin dashboard.
    maintenance: Check
    workers: int  # live RQ workers on every host (RQ's registry in Redis), not this host's
    worker_hosts: int  # the hosts they run on
    queue_depth: int | None
    queued_jobs: int | None
    processing_jobs: int | None


def _database() -> tuple[Check, dict]:
    try:
        counts = {
            "queued_jobs": Job.objects.filter(status=JobStatus.QUEUED).count(),
            "processing_jobs": Job.objects.filter(status=JobStatus.PROCESSING).count(),
        }
        return Check(ok=True, detail=connection.vendor), counts
    except DatabaseError as exc:
        logger.warning("health: database check failed: %s", exc)
        return Check(ok=False, detail=f"unreachable ({type(exc).__name__})"), {}


def _redis() -> tuple[Check, list, int | None]:
    try:
        queue = get_queue(timeout=PROBE_TIMEOUT)
        queue.connection.ping()
        return Check(ok=True), live_workers(queue), queue_depth(queue.connection)
    except RedisError as exc:
        logger.warning("health: redis check failed: %s", exc)
        return Check(ok=False, detail=f"unreachable ({type(exc).__name__})"), [], None


def _maintenance() -> Check:
    """Held or not, and how long the lease has left; never the holder's name (no auth here)."""
    try:
        state = lease_state(MAINTENANCE_LEASE)
    except DatabaseError:
        return Check(ok=False, detail="unknown (database unreachable)")
    if not state.holder:
        return Check(ok=False, detail="no maintenance loop holds the lease")
    return Check(ok=True, detail=f"a loop holds the lease ({state.expires_in:.0f} s left)")


def _ffmpeg() -> Check:
    """The ffmpeg in use passes the capability check (media_pipeline.ops.ffmpeg_bin): its
    version and where it comes from, or what is missing. Never its path."""
    try:
        choice = choose_ffmpeg()
    except FFmpegUnavailable as exc:
        return Check(ok=False, detail=str(exc))
    return Check(ok=True, detail=f"ffmpeg {choice.info.version}, {choice.source}")


def _storage() -> Check:
    """The bucket answers (EF_STORAGE=s3), or the local disk; what is wrong in words, never the
    endpoint's URL."""
    kind = "object store (s3)" if settings.STORAGE_KIND == "s3" else "local disk"
    problem = storage_problem()
    return Check(ok=problem is None, detail=kind if problem is None else f"{kind}: {problem}")


@router.get(
    "/health",
    auth=None,
    response={200: HealthOut, 503: HealthOut},
    summary="Database, Redis, ffmpeg, media storage, live workers and queue depth (503 when a "
    "dependency is down)",
)
def health(request):
    database, counts = _database()
    redis, workers, depth = _redis()
    ffmpeg = _ffmpeg()
    storage = _storage()
    if not (database.ok and redis.ok and ffmpeg.ok and storage.ok):
        status = "unavailable"
    else:
        status = "ok" if workers else "degraded"
    body = HealthOut(
        status=status,
        database=database,
        redis=redis,
        ffmpeg=ffmpeg,
        storage=storage,
        role=settings.ROLE or "web",
        maintenance=_maintenance() if database.ok else Check(ok=False, detail="unknown"),
        workers=len(workers),
        worker_hosts=len({w.hostname for w in workers}),
        queue_depth=depth,
        queued_jobs=counts.get("queued_jobs"),
        processing_jobs=counts.get("processing_jobs"),
    )
    return Status(503 if status == "unavailable" else 200, body)
