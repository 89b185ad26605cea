"""The maintenance loop: rescue stale jobs, re-enqueue lost ones, delete expired ones, retry
webhooks, write the API tokens' last uses noted in Redis.

It runs once across all hosts: a loop makes its passes only while it holds the database lease
`maintenance` (core.leases), renewed before each pass; the other loops stand by, trying each
interval, and one of them takes over once a dead holder's lease expires
(EF_MAINTENANCE_LEASE_SECONDS). A clean stop (SIGTERM, Ctrl-C) releases it at once."""

import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection
from redis.exceptions import RedisError

from core.auth import tokens_flush_last_use
from core.leases import (
    MAINTENANCE_LEASE,
    lease_acquire,
    lease_holder_id,
    lease_release,
    lease_state,
)
from jobs import services, webhooks
from jobs.counts import job_counts_compact

logger = logging.getLogger(__name__)
CLEANUP_EVERY = 60  # passes between retention cleanups
LEASE = MAINTENANCE_LEASE


class _StopOnSignal:
    """SIGTERM (the supervisor, systemd, docker) or Ctrl-C: the pass under way ends, then the
    loop stops and releases the lease (rather than dying holding it for a lease's length)."""

    def __init__(self):
        self.requested = False
        self._previous = {
            sig: signal.signal(sig, self._request) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _request(self, signum, frame) -> None:
        self.requested = True

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Command(BaseCommand):
    help = (
        "Run the job maintenance loop (rescue, reconcile, retention cleanup), once across all "
        "hosts (a database lease). Use --once from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.MAINTENANCE_INTERVAL,
            help="Seconds between passes.",
        )

    def handle(self, *args, once, interval, verbosity, **options):
        self._ttl = settings.MAINTENANCE_LEASE_SECONDS
        if not once and self._ttl < 2 * interval:
            raise CommandError(
                f"EF_MAINTENANCE_LEASE_SECONDS ({self._ttl:g}) must be at least twice the "
                f"interval ({interval:g} s): the lease would lapse between two passes"
            )
        self._verbose = verbosity >= 2
        self._holder = lease_holder_id(settings.ROLE or "maintenance")
        self._held: bool | None = None  # unknown until the first try
        self._database_down = False
        self._rescue_after = 0.0  # monotonic time before which stale heartbeats are not trusted
        if once:
            self._once()
            return
        stop = _StopOnSignal()
        passes = 0
        try:
            while not stop.requested:
                if self._hold_lease():
                    self._pass(cleanup=passes % CLEANUP_EVERY == 0)
                    passes += 1
                stop.sleep(interval)
        finally:
            stop.restore()
            self._release()
        self.stdout.write("maintenance stopped.")

    def _once(self) -> None:
        """One pass under the lease (a cron line), or none while a loop holds it."""
        if not self._hold_lease():
            return
        try:
            self._pass(cleanup=True)
        finally:
            self._release()

    def _hold_lease(self) -> bool:
        """Take or renew the lease; say so when this loop starts or stops being the one."""
        close_old_connections()
        try:
            held = lease_acquire(name=LEASE, holder=self._holder, ttl=self._ttl)
            other = "" if held else lease_state(LEASE).holder
        except DatabaseError as exc:  # the pass would fail too: wait for the database
            self._database_down = True
            logger.warning("maintenance pass skipped: %s", exc)
            return False
        if held and self._held is not True:
            self.stdout.write(f"maintenance lease taken by {self._holder}: this loop runs passes")
        elif not held and self._held is not False:
            self.stdout.write(
                f"maintenance lease held by {other or 'another loop'}: this loop stands by"
            )
        self._held = held
        return held

    def _release(self) -> None:
        if not self._held:
            return
        try:
            lease_release(name=LEASE, holder=self._holder)
        except DatabaseError as exc:  # it expires by itself
            logger.warning("maintenance lease not released: %s", exc)
        self._held = False

    def _pass(self, *, cleanup: bool) -> None:
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
        if self._verbose:
            self.stdout.write(f"maintenance pass by {self._holder}")
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
