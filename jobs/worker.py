"""The RQ worker class used by every Edit Factory worker."""

from django import db
from rq import Worker


class EngineWorker(Worker):
    """RQ's forking worker, closing Django's database connections before each fork so the
    work horse never shares a socket with its parent (it opens its own on first query)."""

    def fork_work_horse(self, job, queue):
        db.connections.close_all()
        return super().fork_work_horse(job, queue)
