"""Monthly spend budgets on paid APIs (ElevenLabs, Gemini...).

Spend is the sum of a user's CostEntry rows this calendar month (UTC). The limit is the user's
UsageBudget row, else settings.MONTHLY_BUDGET_USD (a hard limit; empty = unlimited). A hard budget
refuses a job whose estimated cost would take the user past the limit; a soft one only warns.
A job estimated at zero is never refused.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from jobs.costs import cost_total, money
from jobs.errors import BudgetExceeded
from jobs.models import CostEntry, UsageBudget

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


def budget_check(*, user, estimate: Decimal) -> None:
    """Raise BudgetExceeded when a hard budget would be passed by a job estimated at `estimate`."""
    if user is None or estimate <= 0:
        return
    budget = budget_for(user)
    if budget.limit_usd is None:
        return
    spent = spent_this_month(user)
    if spent + estimate <= budget.limit_usd:
        return
    if budget.hard:
        raise BudgetExceeded(spent=spent, estimate=money(estimate), limit=budget.limit_usd)
    logger.warning(
        "user %s passes their soft budget: spent %s + estimate %s > %s",
        user.pk,
        spent,
        estimate,
        budget.limit_usd,
    )
