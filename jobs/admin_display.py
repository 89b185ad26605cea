"""What the job admin shows: durations, status badges, progress bars and the detail page's
fields (timeline, event log, params, metadata, result, error, files, costs, webhook deliveries),
as functions of a job; JobAdmin uses the detail ones as its read-only fields.

Kept apart from the ModelAdmin so the admin's views (live progress, the detail buttons) use the
same text and the same "stuck" rule without importing the admin module.
"""

import json
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from jobs.models import Job, JobEvent, WebhookDelivery
from jobs.services.events import job_history
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


def heartbeat_stale(job: Job, now=None) -> bool:
    """A processing job whose worker has not been heard from within the rescue timeout."""
    before = (now or timezone.now()) - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    return (
        job.status == JobStatus.PROCESSING
        and job.heartbeat_at is not None
        and job.heartbeat_at < before
    )


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


ERROR_SUMMARY_CHARS = 80


def error_summary(job: Job, limit: int = ERROR_SUMMARY_CHARS):
    """The list's error cell: the error's first line, truncated; the full text in its title."""
    text = job.error.strip()
    if not text:
        return "–"
    first_line = text.splitlines()[0]
    return format_html(
        '<span class="ef-error-cell" title="{}">{}</span>',
        text,
        Truncator(first_line).chars(limit),
    )


def progress_bar(job: Job):
    """The bar the live-progress script updates (data-ef-job); terminal jobs are not polled."""
    return format_html(
        '<div class="ef-progress" data-ef-job="{}" data-ef-state="{}">'
        '<div class="ef-progress-track"><div class="ef-progress-fill ef-status-{}" '
        'style="width: {}%"></div></div><span class="ef-progress-text" title="{}">{}</span></div>',
        job.id,
        job.status,
        job.status,
        f"{min(max(job.progress, 0), 100):.1f}",
        progress_text(job),
        progress_text(job),
    )


def pretty_json(value):
    if value in (None, "", {}, []):
        return "–"
    return format_html(
        '<pre class="ef-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str)
    )


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@admin.display(description="timeline")
def timeline(job: Job):
    rows = [
        ("Created", job.created_at, ""),
        ("Started", job.started_at, ""),
        (
            "Last heartbeat",
            job.heartbeat_at,
            " (stale: worker lost?)" if heartbeat_stale(job) else "",
        ),
        ("Completed", job.completed_at, ""),
        ("Scheduled for", job.scheduled_for, ""),
        ("Retry not before", None if job.scheduled_for else job.run_after, ""),
        ("Files expire", job.expires_at, ""),
    ]
    items = format_html_join(
        "",
        "<li><strong>{}</strong>: {}{}</li>",
        ((label, _when(timezone.localtime(value)), note) for label, value, note in rows if value),
    )
    return format_html(
        '<ul class="ef-timeline">{}</ul><p>Duration: {}</p>',
        items,
        human_duration(job_duration(job)),
    )


def _first_line(text: str):
    if not text:
        return ""
    return format_html(
        '<span title="{}">{}</span>', text, Truncator(text.splitlines()[0]).chars(120)
    )


@admin.display(description="event log")
def event_log(job: Job):
    """Each attempt (start, end, worker, outcome, error) and every status change, oldest first:
    the same history as GET /api/v1/jobs/{id}/history."""
    history = job_history(job)
    if not history["events"]:
        return "–"
    kinds = dict(JobEvent.Kind.choices)
    attempts = format_html_join(
        "",
        '<tr class="ef-attempt ef-outcome-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td><td>{}</td></tr>",
        (
            (
                a["outcome"],
                a["attempt"],
                _when(timezone.localtime(a["started_at"])),
                _when(timezone.localtime(a["ended_at"])) if a["ended_at"] else "–",
                a["worker"] or "–",
                a["outcome"],
                _first_line(a["error"]),
            )
            for a in history["attempts"]
        ),
    )
    events = format_html_join(
        "",
        '<tr class="ef-event ef-event-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        (
            (
                e.kind,
                _when(timezone.localtime(e.at)),
                kinds.get(e.kind, e.kind),
                e.attempt,
                e.worker or "–",
                _first_line(e.error),
            )
            for e in history["events"]
        ),
    )
    return format_html(
        '<table class="ef-table ef-attempts"><tr><th>attempt</th><th>started</th><th>ended</th>'
        "<th>worker</th><th>outcome</th><th>error</th></tr>{}</table>"
        '<table class="ef-table ef-events"><tr><th>when</th><th>event</th><th>attempt</th>'
        "<th>worker</th><th>error</th></tr>{}</table>",
        attempts or mark_safe('<tr><td colspan="6">no attempt yet</td></tr>'),
        events,
    )


@admin.display(description="params")
def params_pretty(job: Job):
    return pretty_json(job.params)


@admin.display(description="metadata")
def metadata_pretty(job: Job):
    """The caller's own JSON object, given at creation (echoed in its webhooks)."""
    return pretty_json(job.metadata)


@admin.display(description="notices")
def notices_display(job: Job):
    """What the user should know of how the job ran (a job type's `notices` in its result: the
    offline voice standing in for an unreachable TTS provider...), above the raw result."""
    notices = (job.result or {}).get("notices") if isinstance(job.result, dict) else None
    if not notices or not isinstance(notices, list):
        return "–"
    return format_html(
        '<ul class="ef-notices">{}</ul>',
        format_html_join("", '<li class="ef-notice">{}</li>', ((str(n),) for n in notices)),
    )


@admin.display(description="result")
def result_pretty(job: Job):
    return pretty_json(job.result)


@admin.display(description="error")
def error_display(job: Job):
    if not job.error and not job.error_detail:
        return "–"
    return format_html(
        '<p class="ef-error">{}</p>{}',
        job.error,
        format_html('<pre class="ef-traceback">{}</pre>', job.error_detail)
        if job.error_detail
        else "",
    )


@admin.display(description="files")
def files_table(job: Job):
    files = list(job.files.all())
    if not files:
        return "–"
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:jobs_job_file", args=[job.pk, jf.pk]),
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
def costs_table(job: Job):
    costs = list(job.costs.order_by("created_at"))
    if not costs:
        return "–"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>${}</td></tr>",
        (
            (
                _when(c.created_at),
                c.service,
                c.operation,
                f"{c.units.normalize():f}",
                c.unit_name,
                "–" if c.audio_seconds is None else f"{c.audio_seconds} s",
                c.cost_usd,
            )
            for c in costs
        ),
    )
    total = sum(c.cost_usd for c in costs)  # of the rows shown, already fetched
    return format_html(
        '<table class="ef-table"><tr><th>when</th><th>service</th><th>operation</th>'
        "<th>units</th><th>audio</th><th>cost</th></tr>{}<tr><th colspan=5>total</th>"
        "<th>${}</th></tr></table>",
        rows,
        total,
    )


@admin.display(description="webhook deliveries")
def webhooks_table(job: Job):
    deliveries = list(WebhookDelivery.objects.filter(job=job).order_by("created_at", "id"))
    if not deliveries:
        return "–"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                d.attempt,
                _when(d.created_at),
                d.event if d.step is None else f"{d.event} ({d.step} %)",
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


def listed(items: list[str], limit: int = 20) -> str:
    """'a, b, c' — at most `limit` items, then how many more (a message stays readable)."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
