"""Leases: one process of many, on any number of hosts, does a task (the maintenance loop) while
it holds the lease; another takes over once the holder stops renewing it.

A lease is a database row (core.models.Lease). It is taken and renewed by one conditional UPDATE
(`WHERE holder = me OR expires_at <= now`), so two processes never both hold it: on PostgreSQL
the second UPDATE waits for the first one's row lock and re-reads the row, which then names
another holder; SQLite runs writers one at a time. Times come from the database's clock, the one
clock every host shares, so hosts whose clocks disagree still agree on expiry.
"""

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Now

from core.models import Lease

_NEVER = datetime(2000, 1, 1, tzinfo=UTC)
MAINTENANCE_LEASE = (
    "maintenance"  # the maintenance loop's (jobs/management/commands/maintenance.py)
)


def lease_holder_id(role: str = "") -> str:
    """Who this process is, as a lease holder: its host, pid and role, and a random suffix so a
    restarted process with a reused pid is another holder."""
    role_part = f" {role}" if role else ""
    return f"{socket.gethostname()} pid {os.getpid()}{role_part} #{secrets.token_hex(3)}"


def _in(seconds: float):
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField()
    )


def lease_acquire(*, name: str, holder: str, ttl: float) -> bool:
    """Take the lease `name` for `ttl` seconds, or renew it when `holder` has it. False while
    another holder's lease has not expired."""
    if _take(name, holder, ttl):
        return True
    if Lease.objects.filter(name=name).exists():
        return False
    # The first acquire ever: a free, expired row (a racing insert is ignored), then the UPDATE
    # decides between the racers.
    Lease.objects.bulk_create([Lease(name=name, expires_at=_NEVER)], ignore_conflicts=True)
    return _take(name, holder, ttl)


def _take(name: str, holder: str, ttl: float) -> bool:
    return bool(
        Lease.objects.filter(name=name)
        .filter(Q(holder=holder) | Q(expires_at__lte=Now()))
        .update(
            holder=holder,
            expires_at=_in(ttl),
            renewed_at=Now(),
            acquired_at=Case(When(holder=holder, then=F("acquired_at")), default=Now()),
        )
    )


def lease_release(*, name: str, holder: str) -> bool:
    """Give the lease up at once (a clean shutdown), when `holder` has it."""
    return bool(
        Lease.objects.filter(name=name, holder=holder).update(
            holder="", expires_at=Now(), renewed_at=Now()
        )
    )


@dataclass(frozen=True)
class LeaseState:
    name: str
    holder: str  # "" when nobody holds it (free, released or expired)
    acquired_at: datetime | None
    renewed_at: datetime | None
    expires_in: float  # seconds left on the database's clock (0 when free)


def lease_state(name: str) -> LeaseState:
    """Who holds the lease now; a holder whose lease expired holds nothing."""
    row = (
        Lease.objects.filter(name=name)
        .annotate(db_now=Now())
        .values("holder", "acquired_at", "renewed_at", "expires_at", "db_now")
        .first()
    )
    if row is None or not row["holder"] or row["expires_at"] <= row["db_now"]:
        return LeaseState(name, "", None, None, 0.0)
    left = (row["expires_at"] - row["db_now"]).total_seconds()
    return LeaseState(name, row["holder"], row["acquired_at"], row["renewed_at"], left)
