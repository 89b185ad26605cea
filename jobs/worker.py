"""The RQ worker class used by every Edit Factory worker."""

import gc
import logging
import uuid

from django import db
from rq import Worker

from jobs import runner, services
from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg

logger = logging.getLogger(__name__)


def warm_up_engine() -> None:
    """Load the database backend and run the engine's queries once (matching no row) in the
    worker's parent process. Work horses are forked per job; without this each of them would
    import and initialise all of it again, which costs more than a short job itself."""
    missing = uuid.uuid4()
    try:
        services.job_claim(job_id=missing)
        services.job_complete(job_id=missing, result={})
        runner.JobContext  # noqa: B018  (the runner module and its imports are loaded)
    except db.DatabaseError as exc:  # the database may be down at start; workers still start
        logger.warning("engine warm-up skipped: %s", exc)
    finally:
        db.connections.close_all()
    # Which ffmpeg to run is decided once here (its capability check starts ffmpeg six times),
    # not again in every work horse. When there is none, `manage.py rqworker`'s system check
    # has refused to start already; a worker started without the checks logs why, and its jobs
    # that run ffmpeg fail saying what is missing.
    try:
        choose_ffmpeg()
    except FFmpegUnavailable as exc:
        logger.error("%s", exc)
    # Long-lived objects out of the collector's reach: no full-collection pauses scanning them,
    # and no copy-on-write of their pages in work horses when a collection would touch them.
    gc.freeze()


class EngineWorker(Worker):
    """RQ's forking worker: warms up the engine once, and closes Django's database connections
    before each fork so a work horse never shares a socket with its parent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        warm_up_engine()

    def fork_work_horse(self, job, queue):
        db.connections.close_all()
        return super().fork_work_horse(job, queue)
