"""Monthly spend budgets on paid APIs (ElevenLabs, Gemini...).

Spend is the sum of a user's CostEntry rows this calendar month (UTC). The limit is the user's
UsageBudget row, else settings.MONTHLY_BUDGET_USD (a hard limit; empty = unlimited). A hard budget
refuses a job whose estimated cost would take the user past the limit; a soft one only warns.
A job estimated at zero is never refused.

Reservations: a paid job's estimate is reserved on its row (`Job.reserved_usd`) in the same
transaction that creates (or retries) it, after the check, which counts what the user's active jobs
have reserved; the check locks the user's row first, so concurrent starts are checked one after
the other and cannot all pass just under the limit. Each recorded cost lowers the job's
reservation by as much; the end of the job (completed, failed, cancelled) releases the rest.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.costs import cost_total, money
from jobs.errors import BudgetExceeded
from jobs.models import CostEntry, Job, UsageBudget

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    limit_usd: Decimal | None  # None: unlimited
    hard: bool


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def budget_for(user) -> Budget:
    row = UsageBudget.objects.filter(user=user).first()
    if row is not None:
        return Budget(limit_usd=row.monthly_limit_usd, hard=row.hard)
    default = (settings.MONTHLY_BUDGET_USD or "").strip()
    return Budget(limit_usd=Decimal(default) if default else None, hard=True)


def spent_this_month(user, *, now: datetime | None = None) -> Decimal:
    return cost_total(CostEntry.objects.filter(owner=user, created_at__gte=month_start(now)))


def reserved_by_active_jobs(user) -> Decimal:
    """What the user's queued and running jobs have reserved and not yet spent."""
    return cost_total(Job.objects.for_owner(user).active(), field="reserved_usd")


@dataclass(frozen=True)
class BudgetStatus:
    """A user's month so far (UTC) against their monthly budget."""

    month_start: datetime
    spent_usd: Decimal
    reserved_usd: Decimal  # estimates held by the user's queued and running jobs
    limit_usd: Decimal | None  # None: unlimited
    hard: bool

    @property
    def remaining_usd(self) -> Decimal | None:
        if self.limit_usd is None:
            return None
        return money(max(self.limit_usd - self.spent_usd - self.reserved_usd, Decimal(0)))


def budget_status(user, *, now: datetime | None = None) -> BudgetStatus:
    budget = budget_for(user)
    return BudgetStatus(
        month_start=month_start(now),
        spent_usd=spent_this_month(user, now=now),
        reserved_usd=reserved_by_active_jobs(user),
        limit_usd=money(budget.limit_usd) if budget.limit_usd is not None else None,
        hard=budget.hard,
    )


def budget_check(*, user, estimate: Decimal) -> None:
    """Raise BudgetExceeded when a hard budget would be passed by a job estimated at `estimate`
    (with what is spent this month and reserved by active jobs). Call it inside the transaction
    that reserves the estimate: it locks the user's row until that transaction ends."""
    if user is None or estimate <= 0:
        return
    budget = budget_for(user)
    if budget.limit_usd is None:
        return
    get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
    spent = spent_this_month(user)
    reserved = reserved_by_active_jobs(user)
    if spent + reserved + estimate <= budget.limit_usd:
        return
    if budget.hard:
        raise BudgetExceeded(
            spent=spent, estimate=money(estimate), limit=budget.limit_usd, reserved=reserved
        )
    logger.warning(
        "user %s passes their soft budget: spent %s + reserved %s + estimate %s > %s",
        user.pk,
        spent,
        reserved,
        estimate,
        budget.limit_usd,
    )
