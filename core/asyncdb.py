"""Database access from async views on a small pool of long-lived threads.

Django runs each sync piece of an ASGI request in a thread made for that request, so every
request would open a new database connection. The hot read endpoints (job polling) are async
and run their ORM work here instead: the pool's threads keep their connections (CONN_MAX_AGE),
health-checked before each use exactly as at the start of a request. The pool is small because
ORM work is CPU-bound under the GIL: more threads only add contention.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

_POOL = ThreadPoolExecutor(
    max_workers=int(os.environ.get("EF_ASYNC_DB_THREADS", "2")), thread_name_prefix="orm"
)


def _fresh_connection_call(fn, args, kwargs):
    close_old_connections()  # drop a dead or expired connection of this pooled thread
    return fn(*args, **kwargs)


async def db_call(fn, *args, **kwargs):
    """Run a read-mostly ORM function (no transaction spanning calls) on the pool."""
    return await sync_to_async(_fresh_connection_call, thread_sensitive=False, executor=_POOL)(
        fn, args, kwargs
    )


def close_pool_connections() -> None:
    """Close the database connection each pool thread holds (end of the test session, so the
    test database can be dropped). One task per thread: the barrier keeps a thread from taking two."""
    workers = _POOL._max_workers
    barrier = threading.Barrier(workers)

    def close() -> None:
        barrier.wait(timeout=10)
        connection.close()

    for future in [_POOL.submit(close) for _ in range(workers)]:
        future.result(timeout=15)
