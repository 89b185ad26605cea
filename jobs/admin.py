"""Minimal job admin: list, filters, read-only detail, retry and cancel through the services."""

from django.contrib import admin, messages

from . import services
from .errors import IllegalTransition
from .models import ApiToken, CostEntry, Job, JobFile


class JobFileInline(admin.TabularInline):
    model = JobFile
    extra = 0
    can_delete = False
    readonly_fields = ("name", "role", "label", "size", "content_type", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "job_type",
        "status",
        "progress_display",
        "stage_label",
        "owner",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "job_type", "created_at")
    search_fields = ("id", "owner__username", "job_type")
    date_hierarchy = "created_at"
    inlines = [JobFileInline]
    actions = ["retry_jobs", "cancel_jobs"]
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, obj):
        return f"{obj.progress:.0f}%"

    def _apply(self, request, queryset, service, verb):
        done, refused = 0, 0
        for job in queryset:
            try:
                service(job=job)
                done += 1
            except IllegalTransition:
                refused += 1
        self.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"{refused} job(s) skipped: not in a state that allows it.",
                messages.WARNING,
            )

    @admin.action(description="Retry selected failed/cancelled jobs", permissions=["change"])
    def retry_jobs(self, request, queryset):
        self._apply(request, queryset, services.job_retry, "Retried")

    @admin.action(description="Cancel selected queued/processing jobs", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        self._apply(request, queryset, services.job_cancel, "Cancelled")


@admin.register(CostEntry)
class CostEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "service",
        "operation",
        "units",
        "unit_name",
        "cost_usd",
        "owner",
        "job",
    )
    list_filter = ("service", "created_at")
    readonly_fields = [f.name for f in CostEntry._meta.fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        from .auth import api_token_create

        token, raw = api_token_create(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.digest, obj.created_at = (
            token.pk,
            token.prefix,
            token.digest,
            token.created_at,
        )
        self.message_user(
            request,
            f"Token created. Copy it now, it will not be shown again: {raw}",
            messages.WARNING,
        )
