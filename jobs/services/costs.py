"""Recording API usage against a job, paid or free (its totals: jobs.costs)."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from jobs.costs import money
from jobs.models import CostEntry, Job


def cost_record(
    *,
    job_id,
    owner_id,
    service,
    operation,
    units,
    unit_name,
    cost_usd=None,
    audio_seconds=None,
    details=None,
) -> CostEntry:
    """Write a cost entry in the same transaction as the job's touch (its `updated_at`). Without
    `cost_usd`, the price comes from settings.COST_RATES["<service>.<unit_name>"] (a service
    missing there costs $0: free usage is recorded for its volume). `audio_seconds`: the length
    of the audio the call produced (TTS)."""
    units = Decimal(str(units))
    if cost_usd is None:
        rate = Decimal(str(settings.COST_RATES.get(f"{service}.{unit_name}", 0)))
        cost_usd = units * rate
    with transaction.atomic():
        entry = CostEntry.objects.create(
            job_id=job_id,
            owner_id=owner_id,
            service=service,
            operation=operation,
            units=units,
            unit_name=unit_name,
            audio_seconds=None if audio_seconds is None else Decimal(str(audio_seconds)),
            cost_usd=money(Decimal(str(cost_usd))),
            details=details or {},
        )
        # What is spent is no longer only reserved (jobs.budgets).
        Job.objects.filter(id=job_id).update(
            reserved_usd=Greatest(F("reserved_usd") - entry.cost_usd, Value(Decimal(0))),
            updated_at=timezone.now(),
        )
    return entry
