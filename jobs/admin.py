"""The operator's job admin: a read-only, live view of jobs; every action goes through jobs.services.

Jobs are never edited here: the worker owns a running row, so a form save could overwrite its
progress. Retry, cancel, requeue, delete and cleanup call the same services as the API and the
maintenance loop.
"""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.timesince import timesince

from core.errors import DomainError, error_in_words
from jobs import admin_display as display
from jobs import services
from jobs.admin_list import SEARCH_HELP, JobListPaginator, JobTypeFilter, OwnerFilter, search_jobs
from jobs.admin_queues import (
    JobActionForm,
    QueueStateAdmin,
    attach_places,
    place_text,
    set_priority_action,
)
from jobs.admin_views import JobAdminViews
from jobs.models import CostEntry, Job, WebhookDelivery

__all__ = ["JobAdmin", "QueueStateAdmin"]


class HasErrorFilter(admin.SimpleListFilter):
    title = "has error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", "With an error"), ("no", "Without an error")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(error="")
        if self.value() == "no":
            return queryset.filter(error="")
        return queryset


@admin.register(Job)
class JobAdmin(JobAdminViews, admin.ModelAdmin):
    list_display = (
        "short_id",
        "job_type",
        "status_display",
        "progress_display",
        "error_summary",
        "owner",
        "attempts_display",
        "age",
        "duration",
    )
    list_display_links = ("short_id",)
    list_filter = (
        "status",
        ("job_type", JobTypeFilter),
        ("owner", OwnerFilter),
        "created_at",
        HasErrorFilter,
    )
    list_select_related = ("owner",)
    # At a million jobs (jobs.admin_list): counts capped or estimated, pages read by index, no
    # facet counts, search on indexed columns (search_jobs, not these fields' icontains).
    paginator = JobListPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    search_fields = ("id", "owner__username", "error")
    search_help_text = SEARCH_HELP
    list_per_page = 50
    actions = ["retry_jobs", "cancel_jobs", "requeue_stuck_jobs", set_priority_action]
    action_form = JobActionForm
    change_form_template = "admin/jobs/job/change_form.html"
    change_list_template = "admin/jobs/job/change_list.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "job_type",
                    "status_display",
                    "progress_display",
                    "owner",
                    "attempts_display",
                    "priority",
                    "place_display",
                    "worker",
                    "callback_url",
                    "webhook_progress",
                    "idempotency_key",
                )
            },
        ),
        ("Timeline", {"fields": ("timeline", "event_log")}),
        (
            "Params and result",
            {"fields": ("notices_display", "params_pretty", "metadata_pretty", "result_pretty")},
        ),
        ("Error", {"fields": ("error_display",)}),
        ("Files", {"fields": ("files_table",)}),
        ("Costs", {"fields": ("costs_table",)}),
        ("Webhook deliveries", {"fields": ("webhooks_table",)}),
    )
    readonly_fields = tuple(f for _, opts in fieldsets for f in opts["fields"])

    class Media:
        css = {"all": ("jobs/admin/jobs_admin.css",)}
        js = ("jobs/admin/live_progress.js",)

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("cleanup/", wrap(self.cleanup_view), name=f"{prefix}_cleanup"),
            path("live-rows/", wrap(self.live_rows_view), name=f"{prefix}_live_rows"),
            path(
                "<path:object_id>/run/<str:action>/",
                wrap(self.run_action_view),
                name=f"{prefix}_run",
            ),
            path(
                "<path:object_id>/files/<int:file_id>/",
                wrap(self.file_download_view),
                name=f"{prefix}_file",
            ),
            *super().get_urls(),
        ]

    # --- search ---------------------------------------------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        """jobs.admin_list.search_jobs: an id prefix, owners, error text; params on request.
        What it leaves out is said above the list (notes, not messages: the live rows view
        searches too)."""
        notes = request.__dict__.setdefault("ef_search_notes", [])
        found = search_jobs(queryset, search_term, notify=lambda level, text: notes.append(text))
        return found, False

    # --- columns --------------------------------------------------------------------------------
    @admin.display(description="id", ordering="id")
    def short_id(self, obj):
        return str(obj.id)[:8]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return display.status_badge(obj)

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, obj):
        return display.progress_bar(obj, place_text(obj))

    @admin.display(description="error")
    def error_summary(self, obj):
        return display.error_summary(obj)

    @admin.display(description="attempts", ordering="attempts")
    def attempts_display(self, obj):
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="queue place")
    def place_display(self, obj):
        return place_text(obj) or "–"

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at, depth=1)

    @admin.display(description="duration")
    def duration(self, obj):
        return display.human_duration(display.job_duration(obj))

    # --- detail: functions of the job (a read-only field may be any callable of the admin) ----
    timeline = staticmethod(display.timeline)
    event_log = staticmethod(display.event_log)
    params_pretty = staticmethod(display.params_pretty)
    metadata_pretty = staticmethod(display.metadata_pretty)
    notices_display = staticmethod(display.notices_display)
    result_pretty = staticmethod(display.result_pretty)
    error_display = staticmethod(display.error_display)
    files_table = staticmethod(display.files_table)
    costs_table = staticmethod(display.costs_table)
    webhooks_table = staticmethod(display.webhooks_table)

    def changelist_view(self, request, extra_context=None):
        # Django's change list context has no delete permission: the clean-up link needs its own.
        extra_context = {
            **(extra_context or {}),
            "ef_can_cleanup": self.has_delete_permission(request),
        }
        started = timezone.now()  # before the list is read: the cursor of an empty list
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and "cl" in response.context_data:
            attach_places(response.context_data["cl"].result_list)  # one count per queue
        if isinstance(response, TemplateResponse):
            context = response.context_data
            context["ef_live_rows"] = self.live_rows_context(request, response, started)
            context["ef_search_notes"] = request.__dict__.get("ef_search_notes", [])
            if "cl" in context:  # "All 10,000+ selected", not "All 10001 selected"
                context["selection_note_all"] = (
                    f"All {context['cl'].paginator.count_display} selected"
                )
        return response

    # --- read-only: a form save must never overwrite a row the worker is writing ----------------
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            self.message_user(request, "Jobs are read-only; use the actions.", messages.WARNING)
            return HttpResponseRedirect(request.path)
        extra_context = {**(extra_context or {}), **self.detail_context(request, object_id)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    # --- bulk actions ---------------------------------------------------------------------------
    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            func, name, _ = actions["delete_selected"]
            actions[name] = (func, name, "Delete selected jobs with their files")
        return actions

    def _apply(self, request, queryset, service, verb):
        """Run `service` on each selected job; report what was done and, per reason, which jobs
        were skipped and why. One job's refusal never stops the others."""
        done, skipped = 0, {}
        for job in queryset:
            try:
                service(job=job)
                done += 1
            except DomainError as exc:  # a state, params that no longer validate, a budget...
                skipped.setdefault(error_in_words(exc), []).append(str(job.id)[:8])
        self.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
        for reason, ids in skipped.items():
            self.message_user(
                request,
                f"Skipped {len(ids)} job(s): {reason}. Jobs: {display.listed(ids)}.",
                messages.WARNING,
            )

    @admin.action(description="Retry selected failed/cancelled jobs", permissions=["change"])
    def retry_jobs(self, request, queryset):
        self._apply(request, queryset, services.job_retry, "Retried")

    @admin.action(description="Cancel selected queued/processing jobs", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        self._apply(request, queryset, services.job_cancel, "Cancelled")

    @admin.action(
        description="Requeue selected stuck jobs (stale heartbeat)", permissions=["change"]
    )
    def requeue_stuck_jobs(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True))
        counts = services.jobs_rescue_stale(job_ids=ids)
        skipped = len(ids) - counts["requeued"] - counts["failed"]
        self.message_user(
            request,
            f"Requeued {counts['requeued']} stuck job(s); {counts['failed']} failed "
            f"(no attempts left); {skipped} skipped (not stuck).",
            messages.SUCCESS,
        )

    def delete_model(self, request, obj):
        files = services.job_delete(job=obj)
        self.message_user(request, f"Deleted {files} stored file(s) with the job.")

    def delete_queryset(self, request, queryset):
        files = services.jobs_delete(jobs=queryset)["files"]
        self.message_user(request, f"Deleted {files} stored file(s) with the jobs.")


@admin.register(CostEntry)
class CostEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "service",
        "operation",
        "units",
        "unit_name",
        "audio_seconds",
        "cost_usd",
        "owner",
        "job",
    )
    list_filter = ("service", "created_at")
    list_select_related = ("owner", "job")
    search_fields = ("service", "operation", "owner__username")
    readonly_fields = [f.name for f in CostEntry._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("job", "attempt", "event", "url", "status_code", "delivered", "created_at")
    list_filter = ("delivered", "event")
    search_fields = ("job__id", "url")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
