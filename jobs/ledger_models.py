"""Ledgers that database triggers append to (jobs.counts) in the same transaction as the rows
they count: exact totals read from a few rows instead of counted over millions. Models of the
`jobs` app, imported by jobs.models."""

from django.db import models


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
