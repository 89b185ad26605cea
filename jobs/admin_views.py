"""Staff-only views behind the job admin: the dashboard, live progress JSON, the list's live
new rows, file downloads, single-job actions and the "clean up older than N days" form. Actions
call jobs.services."""

import copy
import logging
import uuid

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_list import items_for_result
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import resolve, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET

from core.downloads import stream_stored_file
from core.errors import DomainError, error_in_words
from jobs import services
from jobs.admin_display import heartbeat_stale, progress_text
from jobs.admin_list import COUNT_CAP
from jobs.admin_queues import attach_places, place_text
from jobs.dashboard import DEFAULT_WINDOW, dashboard_context
from jobs.models import Job, JobFile
from jobs.status import TERMINAL, JobStatus

logger = logging.getLogger(__name__)

LIVE_PROGRESS_MAX_IDS = 200
# The live-rows view's own parameter: the created_at of the newest row the list shows. Every
# other parameter is the list's own (filters, search, ordering, page), read by its ChangeList.
LIVE_AFTER = "ef_after"
NEWEST_FIRST = "-created_at"


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


# --- the dashboard and live progress (wired in editfactory/urls.py through admin_view) ---------
@require_GET
def dashboard_view(request):
    from django.contrib import admin

    _require(request, "jobs.view_job")
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        **dashboard_context(request.GET.get("window", DEFAULT_WINDOW)),
    }
    return TemplateResponse(request, "admin/jobs/dashboard.html", context)


def _bad_request(code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=400)


def _parse_ids(raw: str) -> list[uuid.UUID] | None:
    try:
        return [uuid.UUID(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        return None


@require_GET
def live_progress(request):
    """{id: {status, progress, stage_label, eta}} for ?ids=<uuid>,<uuid>...; polled by the
    admin's live_progress.js."""
    _require(request, "jobs.view_job")
    ids = _parse_ids(request.GET.get("ids", ""))
    if ids is None or len(ids) > LIVE_PROGRESS_MAX_IDS:
        return _bad_request(
            "invalid_ids", f"ids must be at most {LIVE_PROGRESS_MAX_IDS} comma-separated UUIDs"
        )
    jobs = list(
        Job.objects.filter(id__in=ids).only(
            "id", "status", "progress", "stage", "stage_label", "eta_seconds",
            "job_type", "priority", "owner_id", "created_at", "run_after",
        )
    )  # fmt: skip
    attach_places(jobs)  # a queued job's bar says its place (one count per queue)
    payload = {
        str(job.id): {
            "status": job.status,
            "status_label": job.get_status_display(),
            "progress": round(job.progress, 1),
            "stage": job.stage,
            "stage_label": job.stage_label,
            "eta": job.eta_seconds,
            "text": progress_text(job, place_text(job)),
            "terminal": job.status in TERMINAL,
        }
        for job in jobs
    }
    response = JsonResponse(payload)
    response["Cache-Control"] = "no-store"
    return response


# --- views of JobAdmin (mixed into it; URLs in JobAdmin.get_urls) -------------------------------
class CleanupForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=3650, label="Delete finished jobs that ended more than N days ago"
    )
    include_imported = forms.BooleanField(
        required=False, label="Also jobs imported from the prototype (kept otherwise)"
    )


RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELLED)


class JobAdminViews:
    SINGLE_ACTIONS = {
        "retry": (services.job_retry, "Retried"),
        "cancel": (services.job_cancel, "Cancelled"),
    }

    def _get_job(self, request, object_id) -> Job:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("no such job")
        return job

    def detail_context(self, request, object_id) -> dict:
        """What the detail page's buttons need."""
        job = self.get_object(request, object_id) if object_id else None
        if job is None:
            return {}
        stuck = heartbeat_stale(job)
        refusal = services.job_retry_refusal(job)
        can_change = self.has_change_permission(request, job)
        return {
            "ef_can_retry": can_change and refusal is None,
            # Shown instead of the button when the job ended but a retry cannot work.
            "ef_retry_refusal": refusal if can_change and job.status in RETRYABLE else None,
            "ef_can_cancel": can_change and job.status in (JobStatus.QUEUED, JobStatus.PROCESSING),
            "ef_can_requeue": can_change and stuck,
            "ef_can_delete": self.has_delete_permission(request, job),
        }

    # --- the list's live new rows -----------------------------------------------------------------
    @staticmethod
    def live_rows_eligible(request, cl) -> bool:
        """New rows are prepended only where they belong at the top: the first page, newest
        first."""
        ordering = cl.get_ordering(request, cl.root_queryset)
        return cl.page_num == 1 and bool(ordering) and ordering[0] == NEWEST_FIRST

    def live_rows_context(self, request, response, started) -> dict:
        """What the list page's script needs to ask for new rows: the view's URL and the
        created_at of the newest row shown (when none is shown, when the page was asked for)."""
        cl = response.context_data.get("cl")
        if cl is None or not self.live_rows_eligible(request, cl):
            return {}
        newest = max((job.created_at for job in cl.result_list), default=started)
        return {
            "url": reverse("admin:jobs_job_live_rows"),
            "after": newest.isoformat(),
            "per_page": cl.list_per_page,
        }

    def _list_request(self, request):
        """The request as the list page itself would have received it: the same query string
        less our own parameter, resolved as the change list (so the rows' links preserve the
        list's filters exactly as the page's own rows do)."""
        list_request = copy.copy(request)
        list_request.GET = request.GET.copy()
        list_request.GET.pop(LIVE_AFTER, None)
        list_request.path = reverse("admin:jobs_job_changelist")
        list_request.path_info = list_request.path
        list_request.resolver_match = resolve(list_request.path)
        return list_request

    def live_rows_view(self, request):
        """The rows created after `ef_after` that match the list's current filters, search and
        ordering, rendered by Django admin's own row rendering (items_for_result with the list's
        ChangeList), so their columns are the page's columns. At most one page of them; `more`
        says how many newer ones were left out (a reload shows them), counted up to 10,000."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        raw = request.GET.get(LIVE_AFTER, "")
        after = parse_datetime(raw) if raw else None
        if after is None or timezone.is_naive(after):
            return _bad_request(
                "invalid_after",
                f"{LIVE_AFTER} must be an ISO 8601 date-time with a time zone "
                "(the created_at of the newest row the list shows)",
            )
        list_request = self._list_request(request)
        try:
            cl = self.get_changelist_instance(list_request)
        except IncorrectLookupParameters:
            return _bad_request("invalid_filters", "the list's filters or page are not valid")
        if not self.live_rows_eligible(list_request, cl):
            return _bad_request(
                "not_live",
                "new rows are shown only on the list's first page, sorted newest first",
            )
        new = cl.queryset.filter(created_at__gt=after)
        rows = list(new[: cl.list_per_page + 1])
        more = 0
        if len(rows) > cl.list_per_page:  # counted up to the list's cap (jobs.admin_list)
            more = new.order_by()[: COUNT_CAP + 1].count() - cl.list_per_page
        rows = rows[: cl.list_per_page]
        payload = {
            "rows": [
                {
                    "id": str(job.pk),
                    "html": format_html(
                        '<tr class="ef-new-row">{}</tr>',
                        format_html_join("", "{}", ((c,) for c in items_for_result(cl, job, None))),
                    ),
                }
                for job in rows
            ],
            "newest": max((job.created_at for job in rows), default=after).isoformat(),
            "more": more,
        }
        response = JsonResponse(payload)
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _change_url(job) -> str:
        return reverse("admin:jobs_job_change", args=[job.pk])

    def run_action_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._get_job(request, object_id)
        if not self.has_change_permission(request, job):
            raise PermissionDenied
        if action == "requeue":
            counts = services.jobs_rescue_stale(job_ids=[job.pk])
            if counts["requeued"]:
                self.message_user(request, "Requeued 1 stuck job.", messages.SUCCESS)
            elif counts["failed"]:
                self.message_user(
                    request, "Failed 1 stuck job: no attempts left.", messages.WARNING
                )
            else:
                self.message_user(request, "Not stuck: nothing done.", messages.WARNING)
            return HttpResponseRedirect(self._change_url(job))
        if action not in self.SINGLE_ACTIONS:
            raise Http404("unknown action")
        service, verb = self.SINGLE_ACTIONS[action]
        try:
            service(job=job)
            self.message_user(request, f"{verb} 1 job.", messages.SUCCESS)
        except DomainError as exc:  # a state, params that no longer validate, a budget...
            self.message_user(request, f"Nothing done: {error_in_words(exc)}.", messages.WARNING)
        return HttpResponseRedirect(self._change_url(job))

    def file_download_view(self, request, object_id, file_id):
        job = self._get_job(request, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        jf = get_object_or_404(JobFile, pk=file_id, job=job)
        if not default_storage.exists(jf.name):
            raise Http404("the file is no longer stored")
        return stream_stored_file(request, name=jf.name, content_type=jf.content_type)

    def cleanup_view(self, request):
        """Step 1: ask N. Step 2: show how many would go and ask to confirm. Step 3: delete."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        form = CleanupForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Clean up old jobs",
            "opts": self.opts,
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            days = form.cleaned_data["days"]
            include_imported = form.cleaned_data["include_imported"]
            old = services.jobs_select_old(older_than_days=days, include_imported=include_imported)
            if request.POST.get("confirm") == "yes":
                counts = services.jobs_delete(jobs=old)
                jobs, files = counts["jobs"], counts["files"]
                logger.info("admin cleanup by %s: %d jobs, %d files", request.user, jobs, files)
                self.message_user(
                    request,
                    f"Deleted {jobs} job(s) and {files} stored file(s) older than {days} day(s).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:jobs_job_changelist"))
            context.update(
                days=days, include_imported=include_imported, count=old.count(), confirming=True
            )
        return TemplateResponse(request, "admin/jobs/job/cleanup.html", context)
