"""The maintenance loop: rescue stale jobs, re-enqueue lost ones, delete expired ones."""

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from redis.exceptions import RedisError

from jobs import services, webhooks

logger = logging.getLogger(__name__)
CLEANUP_EVERY = 60  # ticks between retention cleanups


class Command(BaseCommand):
    help = (
        "Run the job maintenance loop (rescue, reconcile, retention cleanup). Use --once from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.MAINTENANCE_INTERVAL,
            help="Seconds between passes.",
        )

    def handle(self, *args, once, interval, **options):
        tick = 0
        while True:
            self._pass(cleanup=once or tick % CLEANUP_EVERY == 0)
            if once:
                return
            tick += 1
            time.sleep(interval)

    def _pass(self, *, cleanup: bool) -> None:
        close_old_connections()
        try:
            rescued = services.jobs_rescue_stale()
            enqueued = services.jobs_reconcile()
            cleaned = services.jobs_cleanup_expired() if cleanup else {"jobs": 0, "files": 0}
            webhooks.webhooks_retry_due()
        except (DatabaseError, RedisError) as exc:  # keep looping through outages
            logger.warning("maintenance pass skipped: %s", exc)
            return
        if rescued["requeued"] or rescued["failed"] or enqueued or cleaned["jobs"]:
            self.stdout.write(
                f"rescued: {rescued['requeued']} requeued, {rescued['failed']} failed; "
                f"reconciled: {enqueued} enqueued; expired: {cleaned['jobs']} jobs, {cleaned['files']} files deleted"
            )
