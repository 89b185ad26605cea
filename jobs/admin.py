"""The operator's job admin: a read-only, live view of jobs; every action goes through jobs.services.

Jobs are never edited here: the worker owns a running row, so a form save could overwrite its
progress. Retry, cancel, requeue, delete and cleanup call the same services as the API and the
maintenance loop.
"""

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from jobs import services
from jobs.admin_views import JobAdminViews
from jobs.errors import IllegalTransition
from jobs.models import CostEntry, Job, WebhookDelivery
from jobs.status import JobStatus


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def job_duration(job: Job, now=None) -> float | None:
    """Run time: start to completion, or start to now while it runs."""
    if not job.started_at:
        return None
    end = job.completed_at or (now or timezone.now())
    return (end - job.started_at).total_seconds()


def progress_text(job: Job) -> str:
    text = f"{job.progress:.0f}%"
    if job.stage_label:
        text += f" · {job.stage_label}"
    if job.status == JobStatus.PROCESSING and job.eta_seconds:
        text += f" · ETA {human_duration(job.eta_seconds)}"
    return text


def status_badge(job: Job):
    return format_html(
        '<span class="ef-badge ef-status-{}" data-ef-status="{}">{}</span>',
        job.status,
        job.id,
        job.get_status_display(),
    )


def progress_bar(job: Job):
    """The bar the live-progress script updates (data-ef-job); terminal jobs are not polled."""
    return format_html(
        '<div class="ef-progress" data-ef-job="{}" data-ef-state="{}">'
        '<div class="ef-progress-track"><div class="ef-progress-fill ef-status-{}" '
        'style="width: {}%"></div></div><span class="ef-progress-text">{}</span></div>',
        job.id,
        job.status,
        job.status,
        f"{min(max(job.progress, 0), 100):.1f}",
        progress_text(job),
    )


def pretty_json(value):
    if value in (None, "", {}, []):
        return "–"
    return format_html(
        '<pre class="ef-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str)
    )


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
        "owner",
        "attempts_display",
        "age",
        "duration",
    )
    list_display_links = ("short_id",)
    list_filter = (
        "status",
        "job_type",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "created_at",
        HasErrorFilter,
    )
    list_select_related = ("owner",)
    search_fields = ("id", "owner__username")
    search_help_text = "Job id, owner username or any text in the params."
    list_per_page = 50
    actions = ["retry_jobs", "cancel_jobs", "requeue_stuck_jobs"]
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
                    "worker",
                    "callback_url",
                )
            },
        ),
        ("Timeline", {"fields": ("timeline",)}),
        ("Params and result", {"fields": ("params_pretty", "result_pretty")}),
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
        """Also match the params' JSON text (a cast works the same on SQLite and PostgreSQL)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            in_params = queryset.annotate(params_text=Cast("params", TextField())).filter(
                params_text__icontains=term
            )
            found = found | queryset.filter(pk__in=in_params.values("pk"))
        return found, may_have_duplicates

    # --- columns --------------------------------------------------------------------------------
    @admin.display(description="id", ordering="id")
    def short_id(self, obj):
        return str(obj.id)[:8]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, obj):
        return progress_bar(obj)

    @admin.display(description="attempts", ordering="attempts")
    def attempts_display(self, obj):
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at)

    @admin.display(description="duration")
    def duration(self, obj):
        return human_duration(job_duration(obj))

    # --- detail ---------------------------------------------------------------------------------
    @admin.display(description="timeline")
    def timeline(self, obj):
        stale_before = timezone.now() - timedelta(seconds=self._heartbeat_timeout())
        stale = (
            obj.status == JobStatus.PROCESSING
            and obj.heartbeat_at
            and obj.heartbeat_at < stale_before
        )
        rows = [
            ("Created", obj.created_at, ""),
            ("Started", obj.started_at, ""),
            ("Last heartbeat", obj.heartbeat_at, " (stale: worker lost?)" if stale else ""),
            ("Completed", obj.completed_at, ""),
            ("Retry not before", obj.run_after, ""),
            ("Files expire", obj.expires_at, ""),
        ]
        items = format_html_join(
            "",
            "<li><strong>{}</strong>: {}{}</li>",
            (
                (label, timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"), note)
                for label, value, note in rows
                if value
            ),
        )
        return format_html(
            '<ul class="ef-timeline">{}</ul><p>Duration: {}</p>',
            items,
            human_duration(job_duration(obj)),
        )

    @staticmethod
    def _heartbeat_timeout() -> float:
        from django.conf import settings

        return settings.JOB_HEARTBEAT_TIMEOUT

    @admin.display(description="params")
    def params_pretty(self, obj):
        return pretty_json(obj.params)

    @admin.display(description="result")
    def result_pretty(self, obj):
        return pretty_json(obj.result)

    @admin.display(description="error")
    def error_display(self, obj):
        if not obj.error and not obj.error_detail:
            return "–"
        return format_html(
            '<p class="ef-error">{}</p>{}',
            obj.error,
            format_html('<pre class="ef-traceback">{}</pre>', obj.error_detail)
            if obj.error_detail
            else "",
        )

    @admin.display(description="files")
    def files_table(self, obj):
        files = list(obj.files.all())
        if not files:
            return "–"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:jobs_job_file", args=[obj.pk, jf.pk]),
                    jf.name.rsplit("/", 1)[-1],
                    jf.get_role_display(),
                    jf.label,
                    filesizeformat(jf.size),
                    jf.content_type,
                )
                for jf in files
            ),
        )
        return format_html(
            '<table class="ef-table"><tr><th>file</th><th>role</th><th>label</th>'
            "<th>size</th><th>type</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="costs")
    def costs_table(self, obj):
        costs = list(obj.costs.order_by("created_at"))
        if not costs:
            return "–"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>${}</td></tr>",
            (
                (
                    c.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    c.service,
                    c.operation,
                    c.units,
                    c.unit_name,
                    c.cost_usd,
                )
                for c in costs
            ),
        )
        total = sum(c.cost_usd for c in costs)
        return format_html(
            '<table class="ef-table"><tr><th>when</th><th>service</th><th>operation</th>'
            "<th>units</th><th>cost</th></tr>{}<tr><th colspan=4>total</th><th>${}</th></tr>"
            "</table>",
            rows,
            total,
        )

    @admin.display(description="webhook deliveries")
    def webhooks_table(self, obj):
        deliveries = list(WebhookDelivery.objects.filter(job=obj).order_by("attempt"))
        if not deliveries:
            return "–"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    d.attempt,
                    d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    d.event,
                    d.url,
                    d.status_code or "–",
                    "yes" if d.delivered else "no",
                    d.error or "",
                )
                for d in deliveries
            ),
        )
        return format_html(
            '<table class="ef-table"><tr><th>#</th><th>when</th><th>event</th><th>url</th>'
            "<th>HTTP</th><th>delivered</th><th>error</th></tr>{}</table>",
            rows,
        )

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
        files = sum(services.job_delete(job=job) for job in queryset)
        self.message_user(request, f"Deleted {files} stored file(s) with the jobs.")


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
