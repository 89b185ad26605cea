"""The maintenance loop: rescue stale jobs, re-enqueue lost ones, delete expired ones, retry
webhooks, write the API tokens' last uses noted in Redis."""

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection
from redis.exceptions import RedisError

from core.auth import tokens_flush_last_use
from jobs import services, webhooks
from jobs.counts import job_counts_compact

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
        self._database_down = False
        self._rescue_after = 0.0  # monotonic time before which stale heartbeats are not trusted
        tick = 0
        try:
            while True:
                self._pass(cleanup=once or tick % CLEANUP_EVERY == 0)
                if once:
                    return
                tick += 1
                time.sleep(interval)
        except KeyboardInterrupt:  # Ctrl-C: stop between passes' writes, in one line
            self.stdout.write("maintenance stopped.")

    def _pass(self, *, cleanup: bool) -> None:
        close_old_connections()
        try:
            rescued = self._rescue()
            enqueued = services.jobs_reconcile()
            cleaned = services.jobs_cleanup_expired() if cleanup else {"jobs": 0, "files": 0}
            webhooks.webhooks_retry_due()
            tokens_flush_last_use()
            job_counts_compact()  # the count ledgers, folded when they grow
        except (DatabaseError, RedisError) as exc:  # keep looping through outages
            self._database_down = self._database_down or isinstance(exc, DatabaseError)
            logger.warning("maintenance pass skipped: %s", exc)
            return
        if rescued["requeued"] or rescued["failed"] or enqueued or cleaned["jobs"]:
            self.stdout.write(
                f"rescued: {rescued['requeued']} requeued, {rescued['failed']} failed; "
                f"reconciled: {enqueued} enqueued; expired: {cleaned['jobs']} jobs, {cleaned['files']} files deleted"
            )

    def _rescue(self) -> dict[str, int]:
        """Rescue stale jobs, except right after a database outage: running jobs could not write
        their heartbeats during it, so they look stale although their workers are alive, and
        rescuing them would run them twice. Their workers get one heartbeat timeout to write again.
        """
        connection.ensure_connection()  # raises while the database is still down
        if self._database_down:
            self._database_down = False
            self._rescue_after = time.monotonic() + settings.JOB_HEARTBEAT_TIMEOUT
            logger.info(
                "database back: stale jobs are rescued again in %.0f s",
                settings.JOB_HEARTBEAT_TIMEOUT,
            )
        if time.monotonic() < self._rescue_after:
            return {"requeued": 0, "failed": 0}
        return services.jobs_rescue_stale()
