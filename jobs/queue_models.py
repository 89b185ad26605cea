"""The operator's settings of each queue family and the users' turns in it (jobs.services.claims
reads both under the queue's row lock). Models of the `jobs` app, imported by jobs.models."""

from django.core.validators import MinValueValidator
from django.db import models


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
