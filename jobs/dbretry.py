"""Retrying database writes from workers: a status write must survive a database restart."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")


def with_db_retry(fn: Callable[[], T], *, what: str, deadline_seconds: float | None = None) -> T:
    """Run `fn`, retrying with backoff while the database is unreachable (up to a deadline)."""
    budget = settings.DB_WRITE_RETRY_SECONDS if deadline_seconds is None else deadline_seconds
    deadline = time.monotonic() + budget
    delay = 0.2
    while True:
        try:
            return fn()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "database unavailable during %s (%s); retrying in %.1fs", what, exc, delay
            )
            connection.close()
            time.sleep(delay)
            close_old_connections()
            delay = min(delay * 2, 5.0)
