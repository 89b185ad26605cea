"""Models of the shared plumbing: per-user API tokens, external login identities and the leases
that let one process of many do a task (core.leases)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A per-user API token. Only a SHA-256 digest of the secret is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="Shown to tell tokens apart; not secret")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        # Created by the jobs app before this package existed; the table keeps its name.
        db_table = "jobs_apitoken"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class ExternalIdentity(models.Model):
    """A user of an external identity provider (Supabase Auth), mapped to the local user that owns
    their jobs and library. Created on the first request with their access token; unique on
    (provider, subject) so concurrent first requests cannot create two users."""

    provider = models.CharField(max_length=32)
    subject = models.CharField(max_length=255, help_text="The provider's user id (the token's sub)")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "external identity"
        verbose_name_plural = "external identities"
        constraints = [
            # Also the index of the lookup made on every request: provider = ? AND subject = ?
            models.UniqueConstraint(
                fields=["provider", "subject"], name="core_externalidentity_provider_subject"
            )
        ]

    def __str__(self):
        return f"{self.provider}:{self.subject}"


class Lease(models.Model):
    """A named lease held by one process at a time (the maintenance loop's, across hosts). Taken,
    renewed and released only through core.leases, with conditional updates on the database's
    clock; an empty holder is a free lease."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField()
    acquired_at = models.DateTimeField(null=True, blank=True)
    renewed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name}: {self.holder or 'free'}"
