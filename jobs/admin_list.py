"""The job list at a million rows: counts that stop at a cap or come from the planner's estimate,
pages read through an index at any depth, search on indexed columns, and filter choices read
with a loose index scan. Measured by bench/admin_scale.py (docs/admin.md, "At scale").

- Counting: `SELECT COUNT(*) FROM (... LIMIT 10001)` reads at most 10,001 index entries; a list
  with more rows says "10,000+", or, unfiltered on PostgreSQL, "about N" from the planner's
  estimate of the table's rows (pg_class.reltuples scaled to the table's current size). Pages
  past a capped count stay reachable (?p=N) while they have rows.
- Paging: a page's ids come first (ORDER BY created_at DESC, id DESC ... OFFSET k LIMIT 50: an
  index-only scan of job_created), then those 50 rows by primary key: no sort of the table and
  no heap read of the rows skipped.
- Search (`search_jobs`): an id or its prefix as a primary-key range, owners by username, error
  text (a trigram index on PostgreSQL), params only when asked with "params:".
"""

import json
import re
import uuid
from functools import cached_property

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.paginator import EmptyPage, Paginator
from django.db import connection
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils.formats import number_format

from jobs.models import Job

COUNT_CAP = 10_000
OWNER_MATCHES_MAX = 1000  # users whose name matches a search term, at most
OWNER_CHOICES_MAX = 50  # owners listed in the owner filter, at most
LATEST_JOBS = 1000  # past that: the owners of the latest jobs
ERROR_TERM_MIN = 3  # characters: a trigram index needs three
PARAMS_PREFIX = "params:"
SEARCH_HELP = (
    "A job id or its first characters, an owner's username (or part of it), error text (3 "
    "characters or more). To search in the params' JSON text, start with “params:” (slower: "
    "params are not indexed)."
)
_HEX = re.compile(r"[0-9a-f]{4,32}")


# --- counts -------------------------------------------------------------------------------------
def planner_row_estimate(queryset) -> int | None:
    """The PostgreSQL planner's estimate of the rows `queryset` returns (for an unfiltered
    table: its reltuples scaled to the table's current pages), or None elsewhere (SQLite has
    none to offer)."""
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class JobListPaginator(Paginator):
    """A Paginator whose count never scans: exact up to COUNT_CAP; past it, for the unfiltered
    table on PostgreSQL, the planner's estimate, else COUNT_CAP + 1 shown as "10,000+". `kind` says which ("exact", "estimate", "capped"); `count_display` is what the
    page shows. Past a capped or estimated count, a page number is valid while it has rows."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        capped = queryset.order_by()[: self.cap + 1].count()
        self.kind = "exact"
        if capped <= self.cap:
            return capped
        estimate = None if queryset.query.where else planner_row_estimate(queryset)
        if estimate is not None:  # the whole table, on PostgreSQL
            self.kind = "estimate"
            return max(estimate, capped)
        self.kind = "capped"
        return capped

    def validate_number(self, number):
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.kind == "exact" or int(number) < 1:
                raise
            return int(number)  # more rows than counted may be there: page() finds out

    @property
    def count_display(self) -> str:
        count = self.count  # sets kind
        if self.kind == "capped":
            return f"{number_format(self.cap, force_grouping=True)}+"
        shown = number_format(count, force_grouping=True)
        return f"about {shown}" if self.kind == "estimate" else shown

    def page(self, number):
        """The page's ids from the ordering's index alone, then its rows by primary key."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = list(self.object_list.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        if not ids and number > 1:
            raise EmptyPage("That page contains no results")
        rows = {job.pk: job for job in self.object_list.filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


# --- filter choices -----------------------------------------------------------------------------
def distinct_values(column: str, limit: int = 10_000) -> list:
    """The first `limit` distinct non-null values of a jobs_job column that leads an index, in
    order, one index probe per value (a "loose index scan" as a recursive CTE): milliseconds
    where SELECT DISTINCT reads every row. Works on PostgreSQL and SQLite."""
    column = Job._meta.get_field(column).column  # a model field's column, never outside text
    col, table = connection.ops.quote_name(column), connection.ops.quote_name(Job._meta.db_table)
    sql = (
        f"WITH RECURSIVE loose(v) AS (SELECT min({col}) FROM {table} "  # noqa: S608
        f"UNION ALL SELECT (SELECT min({col}) FROM {table} WHERE {col} > loose.v) "
        f"FROM loose WHERE loose.v IS NOT NULL) SELECT v FROM loose WHERE v IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [value for (value,) in cursor.fetchall()]


class JobTypeFilter(admin.AllValuesFieldListFilter):
    """The job types present, read from the job_type_status index (not SELECT DISTINCT)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = distinct_values("job_type")


class OwnerFilter(admin.RelatedFieldListFilter):
    """The users who own jobs, read from the job_owner_created index (not SELECT DISTINCT).
    Past OWNER_CHOICES_MAX owners a list of links is no help (and costs a link each): it shows
    the owners of the latest jobs, and the one selected; search finds any owner by name."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.recent_only = False
        super().__init__(field, request, params, model, model_admin, field_path)
        if self.recent_only:
            self.title = "owner (of the latest jobs; search finds the others)"

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        owners = distinct_values("owner", limit=OWNER_CHOICES_MAX + 1)
        if len(owners) > OWNER_CHOICES_MAX:
            self.recent_only = True
            latest = Job.objects.order_by("-created_at").values_list("owner_id", flat=True)
            recent = dict.fromkeys(o for o in latest[:LATEST_JOBS] if o is not None)
            owners = [*list(recent)[:OWNER_CHOICES_MAX], *(self.lookup_val or [])]
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"pk__in": owners}
        )


# --- search -------------------------------------------------------------------------------------
def id_prefix_range(term: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The primary-key range of the ids starting with `term` (4 to 32 hex digits, dashes
    ignored), or None when `term` cannot start an id."""
    digits = term.replace("-", "").lower()
    if not _HEX.fullmatch(digits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def search_jobs(queryset, term: str, notify=None):
    """The jobs matching `term`: any of an id prefix, an owner whose username contains it, an
    error containing it (3 characters or more); with "params:" first, the params' JSON text
    instead. `notify(level, message)` hears what was left out."""
    term = term.strip()
    if not term:
        return queryset
    if term.lower().startswith(PARAMS_PREFIX):
        text = term[len(PARAMS_PREFIX) :].strip()
        if not text:
            return queryset
        return queryset.annotate(params_text=Cast("params", TextField())).filter(
            params_text__icontains=text
        )
    matches = Q()
    id_range = id_prefix_range(term)
    if id_range:
        matches |= Q(pk__gte=id_range[0], pk__lte=id_range[1])
    users = get_user_model().objects.filter(username__icontains=term).order_by("pk")
    owners = list(users.values_list("pk", flat=True)[: OWNER_MATCHES_MAX + 1])
    if len(owners) > OWNER_MATCHES_MAX and notify:
        notify(messages.WARNING, f"More than {OWNER_MATCHES_MAX:,} usernames contain “{term}”: "
               f"only the first {OWNER_MATCHES_MAX:,} were searched; type more of the name.")  # fmt: skip
    if owners:
        matches |= Q(owner_id__in=owners[:OWNER_MATCHES_MAX])
    if len(term) >= ERROR_TERM_MIN:
        matches |= Q(error__icontains=term)
    elif notify:
        notify(messages.INFO, f"Error text is searched from {ERROR_TERM_MIN} characters on.")
    return queryset.filter(matches) if matches else queryset.none()
