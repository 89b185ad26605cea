"""The engine's durable state: jobs, their event log, files, costs, webhook deliveries and
budgets."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.querysets import OwnedQuerySet

# Models of this app kept in modules of their own, imported here so that one import serves.
from jobs.ledger_models import CostSum, JobCount, JobOwnerCount, JobTally  # noqa: F401
from jobs.queue_models import QueueState, QueueTurn  # noqa: F401
from jobs.status import ACTIVE, TERMINAL, JobStatus


class JobTimeRules:
    """A job's derived times, from its status, attempts, completed_at, created_at, imported and
    run_after: shared by the model and by rows read without it (jobs.polling's JobRowTimes)."""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def ended_at(self):
        """When the job ended, for its age (see JobQuerySet.ended_before); None while active."""
        return (self.completed_at or self.created_at) if self.is_terminal else None

    @property
    def scheduled_for(self):
        """When a job created with `run_at` may start, while it waits for its first attempt
        (None otherwise: a retry's backoff is `run_after` alone)."""
        if self.status == JobStatus.QUEUED and self.attempts == 0:
            return self.run_after
        return None

    @property
    def expires_at(self):
        """When retention deletes it, under the current EF_JOB_RETENTION_DAYS (never, for an
        imported job, unless EF_EXPIRE_IMPORTED_JOBS)."""
        if self.imported and not settings.EXPIRE_IMPORTED_JOBS:
            return None
        ended = self.ended_at
        return ended and ended + timedelta(days=settings.JOB_RETENTION_DAYS)


@dataclass(frozen=True)
class JobRowTimes(JobTimeRules):
    """The fields JobTimeRules reads, from a row read in plain SQL (no model instance)."""

    status: str
    attempts: int
    completed_at: datetime | None
    created_at: datetime
    imported: bool
    run_after: datetime | None


class JobQuerySet(OwnedQuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE)

    def terminal(self):
        return self.filter(status__in=TERMINAL)

    def stale_processing(self, before):
        """Processing jobs whose worker has not been heard from since `before`."""
        return self.filter(status=JobStatus.PROCESSING, heartbeat_at__lt=before)

    def due_queued(self, now, quiet_since):
        """Queued jobs that should be in RQ now: backoff over, or untouched since `quiet_since`
        (a fresh row is being enqueued by its creator right now)."""
        return self.filter(status=JobStatus.QUEUED).filter(
            models.Q(run_after__isnull=True, updated_at__lt=quiet_since)
            | models.Q(run_after__lte=now)
        )

    def due_in_queue(self, job_types, now):
        """Queued jobs of these types whose due time has come: what a claim chooses from."""
        return self.filter(status=JobStatus.QUEUED, job_type__in=job_types).filter(
            models.Q(run_after__isnull=True) | models.Q(run_after__lte=now)
        )

    def ended_before(self, cutoff):
        """Terminal jobs that ended before `cutoff`: the one age rule of old jobs (retention,
        the cleanup command, the admin's clean-up). A job's age counts from when it ended
        (`completed_at`), or from its creation when it has no end time (an imported row)."""
        return self.terminal().filter(
            models.Q(completed_at__lt=cutoff)
            | models.Q(completed_at__isnull=True, created_at__lt=cutoff)
        )

    def ended_since(self, since):
        """Terminal jobs that ended at or after `since`, by the same end time as ended_before
        (the dashboard's windowed figures and its throughput chart): ENDED_AT >= since, the
        expression the job_status_ended index holds."""
        return self.terminal().alias(ended=ENDED_AT).filter(ended__gte=since)


# When a terminal job ended (Job.ended_at in SQL): its completion, else its creation.
ENDED_AT = Coalesce("completed_at", "created_at")


class Job(JobTimeRules, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job_type = models.CharField(max_length=50)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="jobs",
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=50, blank=True, default="")
    stage_label = models.CharField(max_length=200, blank=True, default="")
    eta_seconds = models.FloatField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    error_detail = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    run_after = models.DateTimeField(null=True, blank=True)
    priority = models.SmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    reserved_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=0,
        help_text="the part of its estimated paid-API cost not yet recorded as costs; counted "
        "against its owner's budget while the job is active, released when it ends",
    )
    # Brought in by import_jobs: history that retention keeps unless EF_EXPIRE_IMPORTED_JOBS.
    imported = models.BooleanField(default=False)
    callback_url = models.URLField(
        max_length=500, blank=True, default="", help_text="webhook POSTed on the terminal status"
    )
    # The caller's own JSON object, set at creation, echoed in the detail and every webhook.
    metadata = models.JSONField(default=dict, blank=True)
    webhook_progress = models.BooleanField(
        default=False, help_text="also POST job.progress events to the callback URL"
    )
    # Idempotency-Key of the creating request, and a digest of what it asked for: the same key
    # again answers this job (same request) or a conflict (another one). Freed with the job.
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    request_digest = models.CharField(max_length=64, blank=True, default="")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # admin and API lists filtered by status, newest first; rescue/reconcile scans
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            # GET /api/v1/jobs: a user's jobs, newest first
            models.Index(fields=["owner", "-created_at"], name="job_owner_created"),
            # GET /api/v1/jobs?status=: a user's jobs in one status, newest first, and their
            # count (total) read from this index alone (bench/jobs_list.py, 1M rows)
            models.Index(
                fields=["owner", "status", "-created_at"], name="job_owner_status_created"
            ),
            # dashboard and filters: jobs of one type in one status
            models.Index(fields=["job_type", "status"], name="job_type_status"),
            # retention and cleanup: terminal jobs that ended before a cutoff (ended_before)
            models.Index(fields=["status", "completed_at"], name="job_status_completed"),
            # the claim and queue positions (jobs.services.claims, positions): queued jobs of a
            # queue's types by priority and owner, oldest first; partial, so the finished
            # history (most rows) is not in it
            models.Index(
                fields=["job_type", "-priority", "owner", "created_at"],
                condition=models.Q(status="queued"),
                name="job_queue_order",
            ),
            # the dashboard's count of imported jobs: a small partial index (history is a few
            # thousand rows among many)
            models.Index(fields=["status"], condition=models.Q(imported=True), name="job_imported"),
            # the admin's job list, newest first (ORDER BY created_at DESC, id DESC, the admin's
            # tie-break): a page's ids are read from this index alone, at any depth; and the
            # dashboard's jobs created in the window per type (created_at >= since GROUP BY
            # job_type), from the index alone too
            models.Index(fields=["-created_at", "-id"], name="job_created", include=["job_type"]),
            # the dashboard's windowed figures (ended_since: status IN terminal AND
            # COALESCE(completed_at, created_at) >= since, grouped by type and status, per
            # minute or hour, run times of the completed ones): the window's rows, which a
            # table filled over time keeps on its last pages
            models.Index(
                models.F("status"), Coalesce("completed_at", "created_at"), name="job_status_ended"
            ),
            # the admin's "has error" filter, newest first, and its capped count
            # (NOT error = '' ORDER BY created_at DESC): failed jobs are a few percent of all.
            # The admin's error search uses a trigram index on UPPER(error) that only PostgreSQL
            # has (pg_trgm, GIN; made by migration 0012_scale_counts_and_search).
            models.Index(
                fields=["-created_at"], condition=~models.Q(error=""), name="job_error_created"
            ),
        ]
        constraints = [
            # one job per (owner, Idempotency-Key): concurrent requests with the same key insert
            # one row, the others find it (jobs.services.idempotency)
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_owner_idempotency_key",
            ),
        ]

    def __str__(self):
        return f"{self.job_type} {self.id} ({self.status})"


class JobEvent(models.Model):
    """One line of a job's history, written by the transaction that changed its status
    (jobs.services.transitions; its creation by job_create). Deleted with the job."""

    class Kind(models.TextChoices):
        QUEUED = "queued", "Queued"
        STARTED = "started", "Started"
        RETRYING = "retrying", "Retrying after a failed attempt"
        RESCUED = "rescued", "Requeued after its worker was lost"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    attempt = models.PositiveIntegerField(help_text="the job's attempt number at this event")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    worker = models.CharField(
        max_length=200, blank=True, default="", help_text="the worker of the attempt (host:pid)"
    )
    at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # a job's history in order (the API's /history, the admin's event log)
            models.Index(fields=["job", "at"], name="jobevent_job_at"),
        ]

    def __str__(self):
        return f"{self.job_id} {self.kind} (attempt {self.attempt})"


class DeletedImport(models.Model):
    """An imported job that was deleted here (by cleanup or an operator). A re-import does not
    bring it back unless asked to (import_jobs --restore-deleted)."""

    job_id = models.UUIDField(primary_key=True)
    deleted_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"deleted import {self.job_id}"


class JobFile(models.Model):
    class Role(models.TextChoices):
        INPUT = "input", "Input"
        OUTPUT = "output", "Output"
        TEMP = "temp", "Temp"
        # An input owned by someone else (a library source video): read, never deleted with the job.
        SHARED = "shared", "Shared input"

    INPUT_ROLES = (Role.INPUT, Role.SHARED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=500, help_text="Name in the default storage")
    role = models.CharField(max_length=10, choices=Role.choices)
    label = models.CharField(max_length=100, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.name


class StoringFile(models.Model):
    """A storage name a job's attempt is writing: inserted before the write, deleted in the
    transaction that registers the file (a `JobFile`). One left behind names a write its
    attempt never finished (the worker's host died), which the rescue deletes with the
    attempt's outputs, even outside the job's folder (a library name)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="storing_files")
    name = models.CharField(max_length=500, help_text="Name in the default storage")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class CostEntry(models.Model):
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="costs"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="costs",
    )
    service = models.CharField(max_length=50)
    operation = models.CharField(max_length=100)
    units = models.DecimalField(max_digits=14, decimal_places=3)
    unit_name = models.CharField(max_length=30)
    audio_seconds = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="seconds of audio the call produced (TTS); empty for other usage",
    )
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "cost entries"
        indexes = [
            # usage endpoints: a user's spend in a date range
            models.Index(fields=["owner", "created_at"], name="cost_owner_created"),
            # the dashboard's windowed and monthly spend and usage (created_at >= since,
            # grouped by service, hour or owner), read from the index alone
            models.Index(
                fields=["created_at"],
                name="cost_created",
                include=["service", "cost_usd", "owner", "units", "unit_name", "audio_seconds"],
            ),
        ]

    def __str__(self):
        return f"{self.service}/{self.operation} ${self.cost_usd}"


class WebhookDelivery(models.Model):
    """One attempt to POST a job event (its terminal status, or its progress) to its callback URL."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="webhook_deliveries")
    attempt = models.PositiveIntegerField()
    url = models.URLField(max_length=500)
    event = models.CharField(max_length=30)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered = models.BooleanField(default=False)
    # job.progress events: the 10 % step that triggered it (the job's progress when sent is in
    # the body); null for the terminal events.
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job_id", "attempt"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.job_id} #{self.attempt} {self.status_code or self.error[:40]}"


class UsageBudget(models.Model):
    """A user's monthly spend limit on paid APIs (default: settings.EF_MONTHLY_BUDGET_USD)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_budget"
    )
    monthly_limit_usd = models.DecimalField(max_digits=10, decimal_places=2)
    hard = models.BooleanField(
        default=True, help_text="refuse jobs that would pass the limit (402) instead of warning"
    )

    def __str__(self):
        return f"{self.user} ${self.monthly_limit_usd}/month"
