"""The Usage page's calls, sent as the page sends them (contract 4.4, 5.14-5.16): `GET /costs`,
`GET /costs/all`, `GET /usage`, `GET /gemini/status` (no body, a Bearer token). Costs come from
a real Gemini analysis run by the real worker (Gemini's HTTP API mocked with respx) and from the
engine's cost service; ElevenLabs and Gemini are only ever reached through respx (an unmocked
request fails the test)."""

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import respx
from django.test import Client
from django.utils.dateparse import parse_datetime

import editfactory.urls  # noqa: F401 - loads the frontend API before its page modules
from jobs.models import CostEntry
from jobs.services.costs import cost_record
from jobs.status import JobStatus
from media_pipeline.frontend import usage_page
from media_pipeline.library.starts import job_start
from tests.conftest import run_burst_worker
from tests.frontend.library_fixtures import BASE

pytestmark = pytest.mark.django_db(transaction=True)
GEMINI = "https://gemini.test/v1beta/models/gemini-test"
ELEVENLABS = "https://elevenlabs.test/v1/user/subscription"


@pytest.fixture
def gemini_on(settings):
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = "https://gemini.test"
    settings.GEMINI_MODEL = "gemini-test"
    settings.PROVIDER_CHECK_TIMEOUT = 2.5


@pytest.fixture
def elevenlabs_on(settings):
    settings.ELEVENLABS_API_KEY = "el-key"
    settings.ELEVENLABS_BASE_URL = "https://elevenlabs.test"
    settings.PROVIDER_CHECK_TIMEOUT = 2.5


def _gemini_segments(request):
    text = '{"segments": [{"start": 0, "end": 2, "score": 80, "reason": "pattern"}]}'
    return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": text}]}}]})


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _entry(owner, usd, *, service="elevenlabs", at=None, job=None, units=100):
    return CostEntry.objects.create(
        owner=owner, job=job, service=service, operation="tts", units=units,
        unit_name="characters" if service == "elevenlabs" else "frames",
        cost_usd=Decimal(usd), created_at=at or datetime.now(UTC),
    )  # fmt: skip


@pytest.fixture
def spend(user, other_user, media, gemini_on):
    """`user`'s Gemini analysis (a real job: one batch of frames and one request, priced by the
    engine), an ElevenLabs entry of today and one of last year; `other_user` spends more."""
    with respx.mock(assert_all_called=False) as mock:  # called in the forked work horse
        mock.post(f"{GEMINI}:generateContent").mock(side_effect=_gemini_segments)
        job = job_start(
            owner=user,
            job_type="analyze",
            params={"target_duration": 2, "provider": "gemini"},
            inputs={"source": _upload(media.video(seconds=4))},
        )
        run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    cost_record(
        job_id=job.id, owner_id=user.id, service="elevenlabs", operation="tts",
        units=1000, unit_name="characters",
    )  # fmt: skip
    _entry(user, "1.5", at=datetime(2024, 3, 1, tzinfo=UTC))  # not today
    _entry(other_user, "900", service="gemini")  # never shown to `user`
    _entry(other_user, "100")
    return job


def _upload(path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def test_costs_summary_is_the_users_own_spend(api, user, spend, settings):
    response = api.get(f"{BASE}/costs")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "database"
    gemini = sum(e.cost_usd for e in CostEntry.objects.filter(job=spend, service="gemini"))
    frames_rate = Decimal(str(settings.COST_RATES["gemini.frames"]))
    assert gemini >= 2 * frames_rate  # a real batch was priced: frames and a request
    elevenlabs_today = 1000 * settings.COST_RATES["elevenlabs.characters"]
    assert body["totals"]["gemini"] == pytest.approx(float(gemini))
    assert body["totals"]["elevenlabs"] == pytest.approx(elevenlabs_today + 1.5)
    assert body["total_all"] == pytest.approx(float(gemini) + elevenlabs_today + 1.5)
    assert body["today"] == {
        "elevenlabs": pytest.approx(elevenlabs_today),
        "gemini": pytest.approx(float(gemini)),
    }
    mine = CostEntry.objects.filter(owner=user)
    assert body["entry_count"] == mine.count() == 4
    for value in (*body["totals"].values(), body["total_all"], *body["today"].values()):
        assert _number(value)

    entries = body["last_entries"]
    assert [e["id"] for e in entries] == [
        str(pk) for pk in mine.order_by("-created_at", "-id").values_list("id", flat=True)
    ]
    for e in entries:  # what the table reads
        assert parse_datetime(e["created_at"]) is not None
        assert e["service"] in ("elevenlabs", "gemini") and isinstance(e["operation"], str)
        assert _number(e["units"]) and _number(e["estimated_cost"])
        assert isinstance(e["job_id"], str)
    by_id = {e["id"]: e for e in entries}
    recorded = mine.get(service="elevenlabs", job=spend)
    assert by_id[str(recorded.id)]["job_id"][:8] == str(spend.id)[:8]
    assert by_id[str(recorded.id)]["units"] == 1000
    assert by_id[str(recorded.id)]["estimated_cost"] == pytest.approx(elevenlabs_today)
    assert by_id[str(mine.get(job=None).id)]["job_id"] == ""  # no job: an empty id, no crash


def test_costs_never_show_another_users_spend(api, other_api, user, other_user):
    _entry(user, "0.25")
    _entry(other_user, "7", service="gemini")
    mine = api.get(f"{BASE}/costs").json()
    assert mine["total_all"] == 0.25 and mine["totals"]["gemini"] == 0
    assert mine["entry_count"] == 1 and len(mine["last_entries"]) == 1
    assert len(api.get(f"{BASE}/costs/all").json()["entries"]) == 1
    theirs = other_api.get(f"{BASE}/costs").json()
    assert theirs["total_all"] == 7 and theirs["totals"]["elevenlabs"] == 0
    assert api.get(f"{BASE}/usage").json()["budget"]["spent_usd"] == 0.25
    assert other_api.get(f"{BASE}/usage").json()["budget"]["spent_usd"] == 7


def test_costs_last_entries_are_the_ten_newest(api, user):
    for n in range(12):
        _entry(user, "0.01", at=datetime(2025, 1, 1 + n, tzinfo=UTC))
    entries = api.get(f"{BASE}/costs").json()["last_entries"]
    days = [parse_datetime(e["created_at"]).day for e in entries]
    assert days == list(range(12, 2, -1))


def test_costs_all_lists_every_entry_newest_first(api, user, monkeypatch):
    for n in range(5):
        _entry(user, "0.01", at=datetime(2025, 2, 1 + n, tzinfo=UTC))
    response = api.get(f"{BASE}/costs/all")
    assert response.status_code == 200
    body = response.json()
    days = [parse_datetime(e["created_at"]).day for e in body["entries"]]
    assert days == [5, 4, 3, 2, 1]
    assert (body["entry_count"], body["truncated"]) == (5, False)
    monkeypatch.setattr(usage_page, "COSTS_ALL_LIMIT", 3)
    capped = api.get(f"{BASE}/costs/all").json()
    assert [parse_datetime(e["created_at"]).day for e in capped["entries"]] == [5, 4, 3]
    assert (capped["entry_count"], capped["truncated"]) == (5, True)


def test_usage_reads_the_elevenlabs_quota_within_the_bound(api, user, elevenlabs_on, settings):
    quota = {
        "tier": "creator",
        "character_count": 12_345,
        "character_limit": 100_000,
        "next_character_count_reset_unix": 1_767_225_600,
    }
    with respx.mock() as mock:
        route = mock.get(ELEVENLABS).mock(return_value=httpx.Response(200, json=quota))
        response = api.get(f"{BASE}/usage")
    assert response.status_code == 200
    sent = route.calls.last.request
    assert sent.headers["xi-api-key"] == "el-key"
    assert sent.extensions["timeout"]["read"] == 2.5  # EF_PROVIDER_CHECK_TIMEOUT
    body = response.json()
    assert body["errors"] == []
    eleven = body["elevenlabs"]
    assert (eleven["characters_used"], eleven["characters_limit"]) == (12_345, 100_000)
    assert eleven["characters_remaining"] == 87_655
    assert eleven["usage_percent"] == pytest.approx(12.3)
    assert eleven["tier"] == "creator" and eleven["next_reset_unix"] == 1_767_225_600
    rate = settings.COST_RATES["elevenlabs.characters"]
    assert eleven["estimated_cost_usd"] == pytest.approx(12_345 * rate, abs=1e-4)
    for field in ("characters_used", "characters_limit", "characters_remaining", "usage_percent"):
        assert _number(eleven[field]), field


def test_usage_without_an_elevenlabs_key_says_so(api, user, settings):
    settings.ELEVENLABS_API_KEY = ""
    settings.GEMINI_API_KEY = ""
    with respx.mock():  # any request at all would fail the test
        body = api.get(f"{BASE}/usage").json()
    assert body["elevenlabs"] is None
    assert body["errors"] == ["ElevenLabs API key not configured (ELEVENLABS_API_KEY is empty)"]
    assert body["gemini"]["configured"] is False
    assert body["budget"] == {
        "month": datetime.now(UTC).strftime("%Y-%m"),
        "spent_usd": 0,
        "reserved_usd": 0,
        "limit_usd": None,
        "remaining_usd": None,
        "hard": True,
    }


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.ConnectTimeout("too slow"),
         "ElevenLabs could not be reached (no answer from elevenlabs.test in time"),
        (httpx.Response(401, json={"detail": {"status": "invalid_api_key",
                                              "message": "Invalid API key"}}),
         "rejected the API key"),
        (httpx.Response(200, json={"tier": "free"}), "unreadable subscription"),
    ],
)  # fmt: skip
def test_usage_when_elevenlabs_fails_names_the_reason(api, user, elevenlabs_on, answer, words):
    with respx.mock() as mock:
        route = mock.get(ELEVENLABS)
        route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(
            return_value=answer
        )
        response = api.get(f"{BASE}/usage")
    assert response.status_code == 200
    body = response.json()
    assert body["elevenlabs"] is None
    [error] = body["errors"]
    assert error.startswith("ElevenLabs usage could not be read: ") and words in error, error


def test_gemini_status_not_configured_makes_no_request(api, settings):
    settings.GEMINI_API_KEY = ""
    with respx.mock():
        response = api.get(f"{BASE}/gemini/status")
    assert response.status_code == 200
    body = response.json()
    assert (body["configured"], body["connected"]) == (False, False)
    assert "GEMINI_API_KEY" in body["error"]
    assert body["balance_url"].startswith("https://") and body["billing_url"].startswith("https://")


def test_gemini_status_connected_after_one_bounded_free_check(api, gemini_on):
    model = {"name": "models/gemini-test", "displayName": "Gemini Test"}
    with respx.mock() as mock:
        route = mock.get(GEMINI).mock(return_value=httpx.Response(200, json=model))
        response = api.get(f"{BASE}/gemini/status")
    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.headers["x-goog-api-key"] == "test-key" and "key=" not in str(sent.url)
    assert sent.extensions["timeout"]["read"] == 2.5
    body = response.json()
    assert (body["configured"], body["connected"], body["error"]) == (True, True, None)
    assert body["model"] == "gemini-test"
    assert body["test_response"] == "Gemini Test is available to this key"


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.Response(400, json={"error": {"message": "API key not valid."}}),
         "API key not valid."),
        (httpx.Response(404, json={"error": {"message": "models/gemini-test is not found"}}),
         "is not found"),
        (httpx.ReadTimeout("slow"), "did not answer in time"),
        (httpx.Response(503, text="overloaded"), "unavailable (HTTP 503)"),
    ],
)  # fmt: skip
def test_gemini_status_configured_but_failing_says_why(api, gemini_on, answer, words):
    with respx.mock() as mock:
        route = mock.get(GEMINI)
        route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(
            return_value=answer
        )
        body = api.get(f"{BASE}/gemini/status").json()
    assert (body["configured"], body["connected"]) == (True, False)
    assert words in body["error"], body["error"]


@pytest.mark.parametrize("path", ["/costs", "/costs/all", "/usage", "/gemini/status"])
def test_every_call_needs_a_token(path):
    response = Client().get(f"{BASE}{path}")
    assert response.status_code == 401 and isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("path", "successor"),
    [
        ("/costs", "GET /api/v1/library/usage/costs"),
        ("/costs/all", "GET /api/v1/library/usage/costs"),
        ("/usage", "GET /api/v1/library/usage"),
        ("/gemini/status", ""),
    ],
)
def test_the_routes_are_deprecated_with_their_successor(api, path, successor, settings):
    settings.GEMINI_API_KEY = settings.ELEVENLABS_API_KEY = ""
    operation = api.get(f"{BASE}/openapi.json").json()["paths"][BASE + path]["get"]
    assert operation["deprecated"] is True
    response = api.get(BASE + path)
    assert response["Deprecation"] == "true"
    if not successor:
        assert operation["description"].startswith("Deprecated, no successor.")
        return
    assert f"Successor: `{successor}`" in operation["description"]
    assert successor.split(" ")[1] in response["Link"]
    v1 = api.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in v1[successor.split(" ")[1]]
