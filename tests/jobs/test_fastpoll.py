"""The polling path of GET /api/v1/jobs/{id} (editfactory.fastpoll): Django's own middleware chain
around a poll view, in one thread hop. The same answer as Django's full handler, byte for byte;
settings.MIDDLEWARE governs it; anything doubtful is answered by Django's handler."""

import asyncio

import httpx
import pytest
from asgiref.sync import markcoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.db import connection
from django.http import JsonResponse

from core.auth import api_token_create
from core.models import ApiToken
from editfactory.asgi import application
from editfactory.fastpoll import JobPollingFastPath
from jobs import services
from jobs.models import JobFile

pytestmark = pytest.mark.django_db(transaction=True)

FRONTEND = "http://app.example"


def _request(app, method, path, headers=None, content=None, base_url="http://127.0.0.1"):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            return await client.request(method, path, headers=headers or {}, content=content)

    return asyncio.run(go())


class Stack:
    """The fast path and, beside it, Django's full handler, both loaded from the settings in
    force now (a test changing MIDDLEWARE builds its Stack after the change)."""

    def __init__(self):
        self.django_calls = []
        self.django = ASGIHandler()
        self.fast = JobPollingFastPath(self._spy)

    async def _spy(self, scope, receive, send):
        self.django_calls.append(scope["path"])
        await self.django(scope, receive, send)

    def both(self, method, path, headers=None, **kwargs):
        """(fast path's answer, Django's answer); asserts the fast path answered by itself."""
        fast = _request(self.fast, method, path, headers, **kwargs)
        assert self.django_calls == [], "the fast path handed the request to Django"
        return fast, _request(self.django, method, path, headers, **kwargs)


def _same(fast, slow):
    assert fast.status_code == slow.status_code
    assert fast.content == slow.content
    assert sorted(fast.headers.multi_items()) == sorted(slow.headers.multi_items())


@pytest.fixture
def polled(user, tmp_path):
    job = services.job_create(job_type="noop", owner=user)
    source = tmp_path / "out.txt"
    source.write_text("hello")
    services.job_file_store(job_id=job.id, local_path=source, role=JobFile.Role.OUTPUT, label="out")
    services.cost_record(
        job_id=job.id,
        owner_id=user.id,
        service="elevenlabs",
        operation="tts",
        units=12,
        unit_name="characters",
    )
    raw = api_token_create(user=user, name="poll")[1]
    return job, {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_answer_is_djangos_byte_for_byte(polled, method):
    job, auth = polled
    fast, slow = Stack().both(method, f"/api/v1/jobs/{job.id}", auth)
    _same(fast, slow)
    assert fast.status_code == 200
    assert fast.headers["x-frame-options"] == "DENY"  # SecurityMiddleware & co. ran
    if method == "GET":
        assert fast.json()["files"][0]["label"] == "out"
        assert fast.json()["costs"][0]["service"] == "elevenlabs"
    else:
        assert fast.content == b"" and int(fast.headers["content-length"]) > 100


def _calls_to_django(monkeypatch) -> list:
    """The paths the production app hands to Django's handler from now on."""
    calls = []
    django_app = application.app

    async def spy(scope, receive, send):
        calls.append(scope["path"])
        await django_app(scope, receive, send)

    monkeypatch.setattr(application, "app", spy)
    return calls


def test_the_production_app_serves_polls_on_the_fast_path(polled, monkeypatch):
    job, auth = polled
    calls = _calls_to_django(monkeypatch)
    response = _request(application, "GET", f"/api/v1/jobs/{job.id}", auth)
    assert response.status_code == 200 and calls == []


def test_progress_is_seen_at_once(polled):
    job, auth = polled
    stack = Stack()
    services.job_claim(job_id=job.id)
    services.job_set_progress(
        job_id=job.id, percent=42, stage="render", label="Rendering", eta_seconds=3
    )
    body = stack.both("GET", f"/api/v1/jobs/{job.id}", auth)[0].json()
    assert (body["status"], body["progress"], body["stage_label"]) == (
        "processing",
        42,
        "Rendering",
    )


class StampMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Stamp"] = f"stamped {request.method}"
        return response


class RefuseJobViewsMiddleware:
    """Refuses every request resolved to the job detail route, in its view hook."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        if request.resolver_match.view_name == "api:job_detail":
            return JsonResponse({"refused": kwargs["job_id"]}, status=403)
        return None


def test_a_middleware_added_to_the_settings_governs_polls(polled, settings):
    job, auth = polled
    path = f"/api/v1/jobs/{job.id}"
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.StampMiddleware"]
    fast, slow = Stack().both("GET", path, auth)
    _same(fast, slow)
    assert fast.headers["x-stamp"] == "stamped GET" and fast.json()["id"] == str(job.id)

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.RefuseJobViewsMiddleware"]
    fast, slow = Stack().both("GET", path, auth)
    _same(fast, slow)
    assert fast.status_code == 403 and fast.json() == {"refused": str(job.id)}


class SyncOnlyMiddleware(StampMiddleware):
    sync_capable, async_capable = True, False


class AsyncOnlyMiddleware:
    sync_capable, async_capable = False, True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        response = await self.get_response(request)
        response["X-Async"] = "seen"
        return response


@pytest.mark.parametrize(
    "middleware",
    [
        pytest.param(["async only"], id="async-only-innermost"),
        pytest.param(["sync only", "async only"], id="async-only-inside-sync-only"),
        pytest.param([], id="no-async-only-middleware"),
    ],
)
def test_any_mix_of_sync_and_async_middleware(polled, settings, middleware):
    """Django adapts each part of the chain; the fast path follows, and concurrent polls (more
    than the ORM pool has threads) all complete."""
    job, auth = polled
    paths = {"sync only": SyncOnlyMiddleware, "async only": AsyncOnlyMiddleware}
    added = [f"{__name__}.{paths[name].__name__}" for name in middleware]
    if not middleware:  # ServeStatic is the settings' async-only middleware
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "servestatic" not in m]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, *added]
    stack = Stack()
    assert stack.fast.handler.chain_is_async == bool(middleware)
    path = f"/api/v1/jobs/{job.id}"
    fast, slow = stack.both("GET", path, auth)
    _same(fast, slow)
    assert fast.status_code == 200
    assert ("x-async" in fast.headers) == ("async only" in middleware)

    async def many():
        transport = httpx.ASGITransport(app=stack.fast)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            polls = [client.get(path, headers=auth) for _ in range(8)]
            return await asyncio.wait_for(asyncio.gather(*polls), timeout=30)

    answers = asyncio.run(many())
    assert [a.content for a in answers] == [fast.content] * 8
    assert stack.django_calls == []


def test_a_host_outside_allowed_hosts_is_a_400_as_in_django(polled):
    job, auth = polled
    fast, slow = Stack().both("GET", f"/api/v1/jobs/{job.id}", {**auth, "Host": "evil.example"})
    _same(fast, slow)
    assert fast.status_code == 400 and "error" in fast.json()


def test_plain_http_is_redirected_under_secure_ssl_redirect(polled, settings):
    job, auth = polled
    settings.SECURE_SSL_REDIRECT = True
    path = f"/api/v1/jobs/{job.id}"
    fast, slow = Stack().both("GET", path, auth)
    _same(fast, slow)
    assert fast.status_code == 301
    assert fast.headers["location"] == f"https://127.0.0.1{path}"
    fast, slow = Stack().both("GET", path, auth, base_url="https://127.0.0.1")
    _same(fast, slow)
    assert fast.status_code == 200 and "strict-transport-security" not in fast.headers


def test_cors_headers_and_preflight_are_djangos(polled, settings):
    job, auth = polled
    settings.CORS_ALLOWED_ORIGINS = [FRONTEND]
    path = f"/api/v1/jobs/{job.id}"
    stack = Stack()
    fast, slow = stack.both("GET", path, {**auth, "Origin": FRONTEND})
    _same(fast, slow)
    assert fast.headers["access-control-allow-origin"] == FRONTEND
    assert fast.headers["vary"] == slow.headers["vary"]
    preflight = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    fast = _request(stack.fast, "OPTIONS", path, preflight)  # no token: Django answers
    _same(fast, _request(stack.django, "OPTIONS", path, preflight))
    assert fast.status_code == 200 and fast.headers["access-control-allow-origin"] == FRONTEND


@pytest.mark.parametrize(
    "case, status",
    [
        ("no token", 401),
        ("unknown token", 401),
        ("revoked token", 401),
        ("other user's job", 404),
        ("unknown job", 404),
        ("not a job id", 422),
        ("unknown query parameter", 422),  # no silent drops (core.strict)
        ("a request body", 200),
    ],
)
def test_anything_doubtful_is_answered_by_django(polled, other_user, case, status):
    job, auth = polled
    path, headers, content = f"/api/v1/jobs/{job.id}", dict(auth), None
    if case == "no token":
        headers = {}
    elif case == "unknown token":
        headers["Authorization"] = "Bearer ef_not-a-token"
    elif case == "revoked token":
        ApiToken.objects.update(revoked=True)
    elif case == "other user's job":
        headers["Authorization"] = f"Bearer {api_token_create(user=other_user, name='o')[1]}"
    elif case == "unknown job":
        path = "/api/v1/jobs/00000000-0000-0000-0000-000000000000"
    elif case == "not a job id":
        path = "/api/v1/jobs/" + "-" * 32
    elif case == "unknown query parameter":
        path += "?fields=status"
    elif case == "a request body":
        content = b"{}"
    stack = Stack()
    fast = _request(stack.fast, "GET", path, headers, content=content)
    assert stack.django_calls == [path.split("?")[0]]
    slow = _request(stack.django, "GET", path, headers, content=content)
    _same(fast, slow)
    assert fast.status_code == status


def test_a_database_error_is_answered_by_django(polled):
    job, auth = polled
    stack = Stack()
    path = f"/api/v1/jobs/{job.id}"
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "jobs_jobfile" RENAME TO "jobs_jobfile_away"')
    try:
        fast = _request(stack.fast, "GET", path, auth)
    finally:
        with connection.cursor() as cursor:
            cursor.execute('ALTER TABLE "jobs_jobfile_away" RENAME TO "jobs_jobfile"')
    assert stack.django_calls == [path]
    assert fast.status_code == 503 and fast.headers["retry-after"] == "5"
    assert fast.json()["error"]["code"] == "database_unavailable"


# --- the list, GET /api/v1/jobs ------------------------------------------------------------------


@pytest.fixture
def listed(polled, user, other_user):
    """The user's jobs of two types and three statuses (polled's among them), another user's."""
    job, auth = polled
    for n in range(4):
        services.job_create(job_type="test_hang" if n % 2 else "noop", owner=user)
    services.job_claim(job_id=job.id)
    services.job_complete(job_id=job.id, result={"n": 1})
    services.job_cancel(job=services.job_create(job_type="noop", owner=user))
    services.job_create(job_type="noop", owner=other_user)
    return auth


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=2",
        "?limit=2&offset=3",
        "?status=queued",
        "?status=completed&job_type=noop",
        "?job_type=test_hang",
        "?created_after=2020-01-01T00:00:00Z&created_before=2999-01-01T00:00:00%2B02:00",
        "?limit=0",  # taken as 1, as the ninja view does
        "?limit=5000",  # at most 200
    ],
)
def test_the_list_is_djangos_byte_for_byte(listed, query):
    fast, slow = Stack().both("GET", f"/api/v1/jobs{query}", listed)
    _same(fast, slow)
    assert fast.status_code == 200 and fast.json()["items"]


def test_a_list_head_request_is_djangos_too(listed):
    fast, slow = Stack().both("HEAD", "/api/v1/jobs?status=queued", listed)
    _same(fast, slow)
    assert fast.status_code == 200 and int(fast.headers["content-length"]) > 100


def test_the_production_app_serves_the_list_on_the_fast_path(listed, monkeypatch):
    calls = _calls_to_django(monkeypatch)
    response = _request(application, "GET", "/api/v1/jobs?limit=3", listed)
    assert response.status_code == 200 and len(response.json()["items"]) == 3 and calls == []


@pytest.mark.parametrize(
    "query, headers, status",
    [
        ("?fields=status", None, 422),  # no silent drops (core.strict)
        ("?limit=many", None, 422),
        ("?status=lost", None, 422),
        ("?offset=-1", None, 422),
        ("?created_after=yesterday", None, 422),
        ("?job_type=a%00b", None, 422),  # NUL (core.strict)
        ("?status=", None, 422),  # empty: ninja's to judge
        ("?limit=1&limit=2", None, 200),  # given twice: ninja's to judge
        ("", {}, 401),
        ("", {"Authorization": "Bearer ef_not-a-token"}, 401),
    ],
)
def test_a_doubtful_list_request_is_answered_by_django(listed, query, headers, status):
    headers = listed if headers is None else headers
    stack = Stack()
    fast = _request(stack.fast, "GET", f"/api/v1/jobs{query}", headers)
    assert stack.django_calls == ["/api/v1/jobs"]
    _same(fast, _request(stack.django, "GET", f"/api/v1/jobs{query}", headers))
    assert fast.status_code == status


def test_a_job_created_is_listed_at_once(listed, user):
    stack = Stack()
    before = stack.both("GET", "/api/v1/jobs?limit=1", listed)[0].json()
    job = services.job_create(job_type="noop", owner=user)
    after = stack.both("GET", "/api/v1/jobs?limit=1", listed)[0].json()
    assert after["total"] == before["total"] + 1 and after["items"][0]["id"] == str(job.id)
