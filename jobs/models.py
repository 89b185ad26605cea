"""The engine's durable state: jobs, their event log, files, costs, webhook deliveries and
budgets."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.querysets import OwnedQuerySet
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


class QueueState(models.Model):
    """An operator's settings of one queue family (jobs.queues): paused or not, and its
    concurrency limits. Read under a row lock by every claim of the queue, so a pause and the
    limits hold exactly, whatever the number of workers and hosts."""

    name = models.CharField(max_length=50, primary_key=True)
    paused = models.BooleanField(
        default=False, help_text="paused: its queued jobs stay queued; running ones finish"
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=150, blank=True, default="")
    concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="most of its jobs running at once (empty: as many as its workers)",
    )
    per_user_concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="most of one user's jobs of this queue running at once (empty: no limit)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "queue"

    def __str__(self):
        return self.name


class QueueTurn(models.Model):
    """When a user's job of a queue last started: the fair order serves the user who waited
    longest among those with as few running jobs (round-robin). One row per queue and user
    (`owner_key` 0: jobs without an owner)."""

    queue = models.CharField(max_length=50)
    owner_key = models.BigIntegerField()
    last_started_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "owner_key"], name="queue_turn_unique")
        ]

    def __str__(self):
        return f"{self.queue}/{self.owner_key} {self.last_started_at}"


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


class JobCount(models.Model):
    """How many jobs there are per type, status and imported flag: a ledger that database
    triggers append to (jobs.counts) in the same transaction as every insert, delete and status
    change of a job (+1 for the new key, -1 for the old). The sum per key is the exact count,
    read in milliseconds where a GROUP BY over a million jobs takes hundreds (the dashboard's
    all-time figures, /metrics). The maintenance loop folds the rows into one per key; every
    `migrate` rebuilds it from the jobs themselves."""

    job_type = models.CharField(max_length=50)
    status = models.CharField(max_length=16)
    imported = models.BooleanField(default=False)
    n = models.BigIntegerField()

    def __str__(self):
        return f"{self.job_type}/{self.status}{' imported' if self.imported else ''}: {self.n:+}"


class JobOwnerCount(models.Model):
    """How many jobs each owner has per type and status: a ledger appended to by the same
    triggers as JobCount (jobs.counts), so the total of `GET /api/v1/jobs` is a sum over a few
    rows, not a count of the owner's jobs (100,000 of them: ~10 ms; bench/jobs_list.py). No
    foreign key: a deleted user's jobs append their -1s like any delete. The maintenance loop
    folds the rows appended since its last fold (`folded` false) into one per key
    (jobs.owner_counts)."""

    owner_id = models.BigIntegerField()
    job_type = models.CharField(max_length=50)
    status = models.CharField(max_length=16)
    n = models.BigIntegerField()
    folded = models.BooleanField(db_default=False)

    class Meta:
        indexes = [
            models.Index(fields=["owner_id", "status", "job_type"], name="jobownercount_key"),
            models.Index(
                fields=["owner_id", "job_type", "status"],
                condition=models.Q(folded=False),
                name="jobownercount_unfolded",
            ),
        ]

    def __str__(self):
        return f"owner {self.owner_id} {self.job_type}/{self.status}: {self.n:+}"


class JobTally(models.Model):
    """Counters of job events that only grow, appended by the same triggers: jobs created
    (`event` "created") and jobs that ended (the terminal status), with the completed ones' run
    time (started_at to completed_at) in its histogram bucket `le` (seconds; +inf past the last
    bound; NULL when there is no run time). Deleting a job leaves its events counted: /metrics
    exposes these as Prometheus counters and a histogram."""

    job_type = models.CharField(max_length=50)
    event = models.CharField(max_length=16)
    le = models.FloatField(null=True)
    n = models.BigIntegerField()
    seconds = models.FloatField(default=0.0)

    def __str__(self):
        return f"{self.job_type} {self.event} le={self.le}: {self.n}"


class CostSum(models.Model):
    """All-time spend per service, a ledger kept by triggers like JobCount (jobs.counts): every
    insert, delete or change of a CostEntry appends its cost in millionths of a dollar (the
    exact integer jobs.costs sums), so the dashboard's all-time spend is not a SUM over every
    cost entry ever recorded."""

    service = models.CharField(max_length=50)
    micros = models.BigIntegerField()
    entries = models.BigIntegerField()

    def __str__(self):
        return f"{self.service}: {self.micros:+} µ$ ({self.entries:+} entries)"


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
