"""The job list and the dashboard built for a million jobs (jobs.admin_list, docs/admin.md): counts
capped at 10,000 (a smaller cap here) or estimated, pages read through the ordering's index,
search on indexed columns, filter choices by loose index scan, and no page that counts a whole
table. bench/admin_scale.py measures the times; these tests hold the behaviour."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import admin_list
from jobs.admin_list import JobListPaginator, distinct_values, id_prefix_range
from jobs.models import Job
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jobs_job_changelist"
CAP = 5


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(JobListPaginator, "cap", CAP)


def listing(client, **query):
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    return response


def shown_ids(response) -> list[str]:
    return [str(job.pk) for job in response.context["cl"].result_list]


def result_count(html: str) -> tuple[str, str]:
    """(data-count-kind, the count) of the paginator's "N jobs"."""
    kind, text = re.search(
        r'<p class="paginator">.*?data-count-kind="(\w+)"[^>]*>([^<]*) jobs?</span>', html, re.S
    ).groups()
    return kind, text


def analyze():
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job" if connection.vendor == "postgresql" else "ANALYZE")


# --- counts -------------------------------------------------------------------------------------
def test_a_list_under_the_cap_is_counted_exactly(staff_client, make_job, small_cap):
    for _ in range(CAP):
        make_job(JobStatus.FAILED, error="boom")
    make_job(JobStatus.COMPLETED)
    response = listing(staff_client, status__exact="failed")
    assert result_count(response.content.decode()) == ("exact", f"{CAP}")
    assert response.context["cl"].result_count == CAP


def test_a_filtered_list_past_the_cap_says_cap_plus(staff_client, make_job, small_cap):
    for _ in range(CAP + 3):
        make_job(JobStatus.FAILED, error="interrupted by a restart")
    html = listing(staff_client, status__exact="failed").content.decode()
    assert result_count(html) == ("capped", f"{CAP}+")
    assert f"{CAP}+ jobs" in re.sub(r"<[^>]+>", "", html)
    searched = listing(staff_client, q="interrupted").content.decode()
    assert re.search(rf'data-count-kind="capped">{CAP}\+</span> results', searched)
    assert f"All {CAP}+ selected" in searched  # the actions bar's "select all"


def test_the_whole_list_past_the_cap_shows_the_planners_estimate(staff_client, make_job,
                                                                 small_cap):  # fmt: skip
    for _ in range(CAP + 20):
        make_job()
    analyze()
    kind, text = result_count(listing(staff_client).content.decode())
    if connection.vendor == "postgresql":
        assert kind == "estimate" and re.fullmatch(r"about \d+", text)
        assert int(text.split()[1]) >= CAP + 1  # never below what the capped count saw
    else:  # SQLite has no estimate to offer (its pages past the cap stay reachable)
        assert (kind, text) == ("capped", f"{CAP}+")


def test_pages_past_a_capped_count_stay_reachable(staff_client, make_job, small_cap,
                                                  monkeypatch):  # fmt: skip
    from jobs.admin import JobAdmin

    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    jobs = [make_job(JobStatus.FAILED, error="boom") for _ in range(CAP + 4)]  # 9: 5 pages
    newest_first = sorted(jobs, key=lambda j: (j.created_at, str(j.pk)), reverse=True)
    # Counted "5+": 3 pages linked; pages 4 and 5 are there all the same, 6 is not.
    page5 = listing(staff_client, status__exact="failed", p=5)
    assert shown_ids(page5) == [str(newest_first[-1].pk)]
    assert result_count(page5.content.decode()) == ("capped", f"{CAP}+")
    past = staff_client.get(reverse(CHANGELIST), {"status__exact": "failed", "p": 6})
    assert past.status_code == 302 and "e=1" in past["Location"]  # Django's "invalid page"
    assert staff_client.get(reverse(CHANGELIST), {"p": 0}).status_code == 302


def test_pages_come_in_the_lists_order_from_ids_then_rows(staff_client, make_job, monkeypatch):
    from jobs.admin import JobAdmin

    monkeypatch.setattr(JobAdmin, "list_per_page", 3)
    now = timezone.now()
    jobs = [make_job() for _ in range(8)]
    same_time = [make_job() for _ in range(2)]  # a tie on created_at: ordered by id
    for i, job in enumerate(jobs):
        Job.objects.filter(pk=job.pk).update(created_at=now - timedelta(minutes=i))
    Job.objects.filter(pk__in=[j.pk for j in same_time]).update(created_at=now - timedelta(hours=1))
    expected = [str(j.pk) for j in jobs] + sorted((str(j.pk) for j in same_time), reverse=True)
    pages = [shown_ids(listing(staff_client, p=n)) for n in (1, 2, 3, 4)]
    assert [pk for page in pages for pk in page] == expected
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    # The rows keep the list's select_related: the owner column costs no query per row.
    with CaptureQueriesContext(connection) as captured:
        listing(staff_client, p=2)
    by_id = [q for q in captured if re.search(r'FROM "auth_user" WHERE "auth_user"."id" =',
                                              q["sql"])]  # fmt: skip
    assert len(by_id) == 1  # the logged-in user, not one per row


# --- search -------------------------------------------------------------------------------------
def test_search_finds_by_id_prefix_owner_and_error(staff_client, make_job, other_user):
    target = make_job(JobStatus.FAILED, error="ElevenLabs quota exceeded (HTTP 429)")
    by_owner = make_job(owner=other_user)
    others = [make_job() for _ in range(5)]

    def search(term):
        return set(shown_ids(listing(staff_client, q=term)))

    pk = str(target.pk)
    assert pk in search(pk[:8]) and pk in search(pk[:13]) and pk in search(pk.upper()[:6])
    assert search(pk) == {pk}
    assert all(str(o.pk) not in search(pk[:8]) for o in others if not str(o.pk).startswith(pk[:8]))
    assert search("bo") == {str(by_owner.pk)}  # part of a username
    assert search("QUOTA exceeded") == {pk}  # error text, case-insensitive
    assert search("zzzz-not-there") == set()


def test_a_short_term_is_not_searched_in_errors_and_the_page_says_so(staff_client, make_job):
    make_job(JobStatus.FAILED, error="ok then")
    response = listing(staff_client, q="ok")
    assert shown_ids(response) == []
    assert "Error text is searched from 3 characters on." in response.content.decode()
    assert listing(staff_client).context["ef_search_notes"] == []


def test_id_prefix_range():
    assert id_prefix_range("3F2A") == (
        __import__("uuid").UUID("3f2a0000-0000-0000-0000-000000000000"),
        __import__("uuid").UUID("3f2affff-ffff-ffff-ffff-ffffffffffff"),
    )
    assert id_prefix_range("3f2a1b4c-12")[0].hex.startswith("3f2a1b4c12")
    for not_an_id in ("abc", "bob", "quota", "3f2a 1b", "g123", "0" * 33):
        assert id_prefix_range(not_an_id) is None


# --- filters ------------------------------------------------------------------------------------
def test_filter_choices_come_from_a_loose_index_scan(staff_client, make_job, other_user, user):
    make_job(job_type="render_clip")
    make_job(job_type="analyze", owner=other_user)
    make_job(job_type="render_clip", owner=None)
    assert distinct_values("job_type") == ["analyze", "render_clip"]
    assert distinct_values("owner") == sorted([user.pk, other_user.pk])
    assert distinct_values("job_type", limit=1) == ["analyze"]
    with CaptureQueriesContext(connection) as captured:
        html = listing(staff_client).content.decode()
    assert not [q for q in captured if "DISTINCT" in q["sql"].upper()]
    assert "?job_type=analyze" in html and f"?owner__id__exact={other_user.pk}" in html


def test_past_the_owner_limit_the_filter_lists_the_latest_jobs_owners(
    staff_client, make_job, django_user_model, monkeypatch
):
    monkeypatch.setattr(admin_list, "OWNER_CHOICES_MAX", 2)
    users = [django_user_model.objects.create_user(f"user{i}") for i in range(4)]
    for age, owner in enumerate(users):  # user0 owns the newest job
        make_job(owner=owner, age_days=age)
    html = listing(staff_client).content.decode()
    assert "of the latest jobs" in html
    listed = set(re.findall(r"\?owner__id__exact=(\d+)", html))
    assert listed == {str(users[0].pk), str(users[1].pk)}
    selected = listing(staff_client, owner__id__exact=users[3].pk).content.decode()
    assert str(users[3].pk) in set(re.findall(r"owner__id__exact=(\d+)", selected))


# --- no page counts a whole table ---------------------------------------------------------------
def queries_of(client, url, **query) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, query).status_code == 200
    return [q["sql"] for q in captured]


def job_counts(sqls: list[str]) -> list[str]:
    return [s for s in sqls if "COUNT(" in s.upper() and '"jobs_job"' in s]


def test_no_admin_page_counts_the_jobs_without_a_bound(staff_client, make_job, small_cap):
    jobs = [make_job(JobStatus.FAILED, error="boom") for _ in range(CAP + 2)]
    changelist = reverse(CHANGELIST)
    pages = [
        queries_of(staff_client, changelist),
        queries_of(staff_client, changelist, p=2),
        queries_of(staff_client, changelist, q="boom"),
        queries_of(staff_client, changelist, q=str(jobs[0].pk)[:8]),
        queries_of(staff_client, changelist, status__exact="failed", has_error="yes"),
        queries_of(staff_client, changelist, job_type="noop"),
        queries_of(staff_client, reverse("admin:jobs_job_change", args=[jobs[0].pk])),
        queries_of(
            staff_client,
            reverse("admin:jobs_job_live_rows"),
            ef_after=(timezone.now() - timedelta(hours=1)).isoformat(),
        ),  # fmt: skip
    ]
    counted = [sql for sqls in pages for sql in job_counts(sqls)]
    assert counted, "the lists count their rows"
    for sql in counted:
        assert re.search(r"LIMIT \d+\)? subquery", sql) or "LIMIT" in sql, sql
        assert str(CAP + 1) in sql  # LIMIT cap + 1


def test_the_dashboard_counts_only_windows_and_reads_all_time_figures_from_the_ledgers(
    staff_client, make_job
):
    make_job(JobStatus.COMPLETED)
    make_job(JobStatus.FAILED, age_days=30)
    for window in ("1h", "24h", "7d"):
        sqls = queries_of(staff_client, reverse("ef_dashboard"), window=window)
        for sql in job_counts(sqls):
            # every count over the jobs is bounded by the window (created_at or end time >= t)
            assert re.search(r'(\."created_at"|COALESCE\([^)]*\)) >= ', sql), sql
        assert any('"jobs_jobcount"' in s for s in sqls)  # all-time counts: the ledger
        assert not [s for s in sqls if '"jobs_costentry"' in s and " WHERE " not in s]
        context = staff_client.get(reverse("ef_dashboard"), {"window": window}).context
        assert context["status"]["all_time"] == Job.objects.count() == 2
