"""The job list: its error column, search in error text, and the live new rows view (rows created
after the newest row shown that match the list's filters, search and ordering, rendered with the
list's own columns)."""

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.admin import JobAdmin
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jobs_job_changelist"
LIVE_ROWS = "admin:jobs_job_live_rows"


def row_html(page_html: str, job) -> str:
    """The cells of `job`'s row in a rendered list page (between <tr> and </tr>)."""
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page_html, flags=re.S)
    (row,) = [r for r in rows if f'value="{job.pk}"' in r]
    return row


def cells(row: str) -> list[str]:
    return re.findall(r"<t[hd][^>]*>.*?</t[hd]>", row, flags=re.S)


def ids_of(live) -> list[str]:
    return [row["id"] for row in live.json()["rows"]]


# --- the error column ---------------------------------------------------------------------------
def test_error_column_shows_the_first_line_truncated_with_the_full_text_in_its_title(
    staff_client, make_job
):
    long_line = "FFmpegError: " + "x" * 200
    failed = make_job(JobStatus.FAILED, error=f"{long_line}\nsecond line of detail")
    # A failed job imported from the prototype: its bar says where it stopped, the column why.
    legacy = make_job(
        JobStatus.FAILED, stage_label="Generare TTS…", error="interrupted by a server restart"
    )
    done = make_job(JobStatus.COMPLETED)
    html = staff_client.get(reverse(CHANGELIST)).content.decode()

    failed_cell = [c for c in cells(row_html(html, failed)) if "field-error_summary" in c][0]
    shown = re.search(r'title="([^"]*)">([^<]*)<', failed_cell)
    assert shown.group(1) == f"{long_line}\nsecond line of detail"  # the whole error
    assert shown.group(2).startswith("FFmpegError: xxx") and shown.group(2).endswith("…")
    assert len(shown.group(2)) == 80 and "second line" not in shown.group(2)

    legacy_row = row_html(html, legacy)
    assert "interrupted by a server restart" in legacy_row and "Generare TTS…" in legacy_row
    assert "ef-error-cell" not in row_html(html, done)
    assert re.search(r"<th scope=\"col\" class=\"column-error_summary\">", html)


def test_search_covers_error_text_as_well_as_id_owner_and_params(
    staff_client, make_job, other_user
):
    interrupted = [
        make_job(JobStatus.FAILED, error="Interrupted: the worker was lost") for _ in range(3)
    ]
    other_error = make_job(JobStatus.FAILED, error="boom")
    by_params = make_job(params={"text": "Sunset Beach"})
    by_owner = make_job(owner=other_user)
    url = reverse(CHANGELIST)

    def search(term):
        return {str(j.pk) for j in staff_client.get(url, {"q": term}).context["cl"].result_list}

    assert search("interrupted") == {str(j.pk) for j in interrupted}
    assert search("boom") == {str(other_error.pk)}
    # Params are not indexed: searched only when asked (jobs.admin_list.search_jobs).
    assert search("sunset") == set()
    assert search("params: sunset") == {str(by_params.pk)}
    assert search("bob") == {str(by_owner.pk)}
    assert search(str(other_error.pk)) == {str(other_error.pk)}


# --- the live rows view -------------------------------------------------------------------------
def test_live_rows_are_staff_only(client, user, make_job):
    from tests.admin.conftest import staff_with

    params = {"ef_after": timezone.now().isoformat()}
    url = reverse(LIVE_ROWS)
    anonymous = Client().get(url, params)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    client.force_login(user)  # not staff
    not_staff = client.get(url, params)
    assert not_staff.status_code == 302 and not_staff["Location"].startswith("/admin/login/")
    nobody = Client()
    nobody.force_login(staff_with(user.__class__, "nobody"))  # staff without view_job
    assert nobody.get(url, params).status_code == 403


def test_live_rows_return_exactly_the_new_rows_matching_the_list(staff_client, make_job, user):
    make_job(JobStatus.FAILED, error="old failure")
    listing = staff_client.get(reverse(CHANGELIST), {"status__exact": "failed"})
    live = listing.context["ef_live_rows"]
    assert live["url"] == reverse(LIVE_ROWS)
    html = listing.content.decode()
    assert (
        f'name="ef-live-rows-url" content="{live["url"]}" data-ef-after="{live["after"]}"' in html
    )
    after = live["after"]

    new_failed = make_job(JobStatus.FAILED, error="interrupted")
    new_failed_other = make_job(JobStatus.FAILED, error="boom")
    make_job(JobStatus.COMPLETED)  # new, but not in the filtered list
    make_job(JobStatus.FAILED, error="interrupted", age_days=1)  # matches, but not new

    url = reverse(LIVE_ROWS)
    answer = staff_client.get(url, {"status__exact": "failed", "ef_after": after})
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    data = answer.json()
    assert ids_of(answer) == [str(new_failed_other.pk), str(new_failed.pk)]  # newest first
    assert data["more"] == 0
    assert data["newest"] == new_failed_other.created_at.isoformat()
    searched = staff_client.get(
        url, {"status__exact": "failed", "q": "interrupted", "ef_after": after}
    )
    assert ids_of(searched) == [str(new_failed.pk)]
    # Asked again from the newest row it answered: nothing new.
    again = staff_client.get(url, {"status__exact": "failed", "ef_after": data["newest"]})
    assert again.json() == {"rows": [], "newest": data["newest"], "more": 0}

    # The same columns as the page's own rows: the list page now shows the rows; compare cells.
    page = staff_client.get(reverse(CHANGELIST), {"status__exact": "failed"}).content.decode()
    for row, job in zip(data["rows"], (new_failed_other, new_failed), strict=True):
        assert row["html"].startswith('<tr class="ef-new-row">') and row["html"].endswith("</tr>")
        live_cells = cells(row["html"])
        assert live_cells == cells(row_html(page, job))
        assert len(live_cells) == 1 + len(JobAdmin.list_display)  # the checkbox, then columns
    # The link keeps the list's filters, as the page's own links do.
    assert "_changelist_filters=status__exact%3Dfailed" in data["rows"][0]["html"]


def test_live_rows_answer_one_page_and_say_how_many_more(staff_client, make_job, monkeypatch):
    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    after = (timezone.now() - timedelta(seconds=1)).isoformat()
    jobs = [make_job() for _ in range(5)]
    data = staff_client.get(reverse(LIVE_ROWS), {"ef_after": after}).json()
    newest_first = sorted(jobs, key=lambda j: j.created_at, reverse=True)
    assert [r["id"] for r in data["rows"]] == [str(j.pk) for j in newest_first[:2]]
    assert data["more"] == 3 and data["newest"] == newest_first[0].created_at.isoformat()


NOW = "now"
AGE = str(1 + JobAdmin.list_display.index("age"))  # the column's number in ?o= (1: the id)


@pytest.mark.parametrize(
    "query, code",
    [
        ({}, "invalid_after"),
        ({"ef_after": "yesterday"}, "invalid_after"),
        ({"ef_after": "2030-01-01T00:00:00"}, "invalid_after"),  # no time zone
        ({"ef_after": NOW, "o": "1"}, "not_live"),  # sorted by id
        ({"ef_after": NOW, "o": AGE}, "not_live"),  # age ascending: oldest first
        ({"ef_after": NOW, "p": "2"}, "not_live"),
        ({"ef_after": NOW, "p": "9"}, "invalid_filters"),  # no such page
        ({"ef_after": NOW, "created_at__gte": "soon"}, "invalid_filters"),
    ],
)
def test_live_rows_refuse_what_they_cannot_follow(staff_client, make_job, monkeypatch, query, code):
    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    for _ in range(3):
        make_job()
    params = {k: timezone.now().isoformat() if v == NOW else v for k, v in query.items()}
    response = staff_client.get(reverse(LIVE_ROWS), params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code and body["message"]


def test_the_page_asks_for_live_rows_only_on_the_first_page_newest_first(staff_client, make_job):
    for _ in range(3):
        make_job()
    url = reverse(CHANGELIST)
    assert staff_client.get(url).context["ef_live_rows"]
    assert staff_client.get(url, {"o": f"-{AGE}"}).context["ef_live_rows"]  # age, newest first
    assert staff_client.get(url, {"o": "1"}).context["ef_live_rows"] == {}
    assert b"ef-live-rows-url" not in staff_client.get(url, {"o": AGE}).content
    # An empty list follows from when the page was asked for.
    before = timezone.now()
    empty = staff_client.get(url, {"status__exact": "cancelled"}).context["ef_live_rows"]
    assert before <= datetime.fromisoformat(empty["after"]) <= timezone.now()
