"""The operator's queue controls in the admin: the Queues page (pause, resume, limits, live
figures), the job list's "set priority" action, and a queued job's place in its queue."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timeuntil

from core.errors import DomainError, error_in_words
from jobs import admin_display as display
from jobs import services
from jobs.models import Job, QueueState
from jobs.queues import PRIORITY_MAX, PRIORITY_MIN, validate_priority
from jobs.registry import job_types_of
from jobs.services.positions import live_worker_count, median_run_seconds, queue_places
from jobs.status import JobStatus


class JobActionForm(ActionForm):
    """The job list's action bar, with the value the "set priority" action applies."""

    priority = forms.IntegerField(
        required=False,
        min_value=PRIORITY_MIN,
        max_value=PRIORITY_MAX,
        label="priority",
        help_text=f"for “Set priority”: {PRIORITY_MIN} to {PRIORITY_MAX}, higher first",
        widget=forms.NumberInput(attrs={"style": "width: 4em", "id": "ef-priority"}),
    )


def set_priority_action(modeladmin, request, queryset):
    """Set the priority typed next to the action on each selected queued job; report per job."""
    raw = request.POST.get("priority", "").strip()
    try:
        priority = validate_priority(int(raw))
    except (ValueError, DomainError):
        modeladmin.message_user(
            request,
            f"Type a priority from {PRIORITY_MIN} to {PRIORITY_MAX} next to the action "
            f"(got '{raw}'): no job changed.",
            messages.ERROR,
        )
        return
    done, skipped = 0, {}
    for job in queryset:
        try:
            services.job_set_priority(job=job, priority=priority)
            done += 1
        except DomainError as exc:
            skipped.setdefault(error_in_words(exc), []).append(str(job.id)[:8])
    modeladmin.message_user(request, f"Set priority {priority} on {done} job(s).", messages.SUCCESS)
    for reason, ids in skipped.items():
        modeladmin.message_user(
            request,
            f"Skipped {len(ids)} job(s): {reason}. Jobs: {display.listed(ids)}.",
            messages.WARNING,
        )


set_priority_action.short_description = "Set priority of selected queued jobs"
set_priority_action.allowed_permissions = ("change",)


def attach_places(jobs) -> None:
    """Count the queue place of the queued ones among `jobs` (one snapshot per queue) and keep
    it on each row for `place_text`."""
    jobs = list(jobs)
    places = queue_places(jobs)
    for job in jobs:
        job._ef_place = places.get(job.id)


def place_text(job) -> str:
    """A queued job's place, shortest first: “p5 · #3 in renders · ~2 minutes” (p5: priority
    5, shown when not 0); "" for a job that is not queued."""
    if job.status != JobStatus.QUEUED:
        return ""
    if not hasattr(job, "_ef_place"):
        attach_places([job])
    place = job._ef_place
    if place is None:
        return "job type not installed"
    parts = [f"p{job.priority}"] if job.priority else []
    if place.position is None:
        when = place.estimated_start_at
        parts.append(f"due in {_until(when)}" if when else "waiting for its due time")
    else:
        parts.append(f"#{place.position + 1} in {place.queue}")
    if place.paused:
        parts.append("queue paused")
    elif place.position is not None and place.estimated_start_at is not None:
        parts.append(f"~{_until(place.estimated_start_at)}")
    return " · ".join(parts)


def _until(when) -> str:
    seconds = (when - timezone.now()).total_seconds()
    return "a moment" if seconds < 60 else timeuntil(when, depth=1)


@admin.register(QueueState)
class QueueStateAdmin(admin.ModelAdmin):
    """One row per queue family: pause/resume (actions), limits (the change form), and what
    the queue holds now."""

    list_display = (
        "name",
        "state_display",
        "queued_count",
        "running_count",
        "workers_display",
        "median_display",
        "concurrency",
        "per_user_concurrency",
    )
    list_display_links = ("name",)
    fields = (
        "name",
        "state_display",
        "concurrency",
        "per_user_concurrency",
        "queued_count",
        "running_count",
        "workers_display",
        "median_display",
        "job_types_display",
    )
    readonly_fields = (
        "name",
        "state_display",
        "queued_count",
        "running_count",
        "workers_display",
        "median_display",
        "job_types_display",
    )
    actions = ["pause_queues", "resume_queues"]

    class Media:
        css = {"all": ("jobs/admin/jobs_admin.css",)}

    def has_add_permission(self, request):
        return False  # the families are the code's (jobs.queues); their rows are migrated

    def has_delete_permission(self, request, obj=None):
        return False

    @staticmethod
    def _count(obj, status) -> int:
        return Job.objects.filter(status=status, job_type__in=job_types_of(obj.name)).count()

    @admin.display(description="state")
    def state_display(self, obj):
        if obj.paused:
            since = (
                timezone.localtime(obj.paused_at).strftime("%Y-%m-%d %H:%M")
                if obj.paused_at
                else ""
            )
            who = f" by {obj.paused_by}" if obj.paused_by else ""
            return format_html(
                '<span class="ef-badge ef-status-cancelled">paused</span> since {}{}', since, who
            )
        return mark_safe('<span class="ef-badge ef-status-completed">running</span>')  # noqa: S308

    @admin.display(description="queued")
    def queued_count(self, obj):
        return self._count(obj, JobStatus.QUEUED)

    @admin.display(description="running")
    def running_count(self, obj):
        return self._count(obj, JobStatus.PROCESSING)

    @admin.display(description="live workers")
    def workers_display(self, obj):
        count = live_worker_count(obj.name)
        return "Redis unreachable" if count is None else count

    @admin.display(description="median run (last 50)")
    def median_display(self, obj):
        median = median_run_seconds(obj.name)
        return "no run yet" if median is None else display.human_duration(median)

    @admin.display(description="job types")
    def job_types_display(self, obj):
        return ", ".join(job_types_of(obj.name)) or "none"

    @admin.action(description="Pause selected queues (queued jobs wait)", permissions=["change"])
    def pause_queues(self, request, queryset):
        who = request.user.get_username()
        names = [services.queue_pause(name=q.name, by=who).name for q in queryset]
        self.message_user(
            request,
            f"Paused {', '.join(names)}: their queued jobs stay queued; running jobs finish.",
            messages.SUCCESS,
        )

    @admin.action(description="Resume selected queues", permissions=["change"])
    def resume_queues(self, request, queryset):
        names = [services.queue_resume(name=q.name).name for q in queryset]
        self.message_user(
            request, f"Resumed {', '.join(names)}: workers take their jobs again.", messages.SUCCESS
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.queue_top_up(name=obj.name, grace=0)  # a raised limit lets jobs start now
