"""Issue 14.1: uploads no longer fill the disk before anyone is checked (editfactory.bodyguard).

Against a real uvicorn server serving the product's ASGI application, 300 MB bodies are sent
with no token, a bad token, over the cap with a good token, and chunked (no Content-Length).
Measured on the server process: its temp dirs (its TMPDIR, EF_TEMP_DIR, the media dir) gain
nothing and no file is ever open there (sampled from /proc every few ms: Django's spooled body
is an unlinked file that a directory listing would not show), its RSS grows by a few MB at
most, and the client sees the answer when it has sent a few MB of the 300 (socket buffers).
A raw socket shows the answer comes before the body: it sends 64 KiB and waits.
"""

import asyncio
import json
import logging
import os
import select
import socket
import threading
import time
from pathlib import Path

import httpx
import jwt
import pytest
from django.conf import settings
from django.test import Client

from core.auth import api_token_create
from editfactory.asgi import application
from editfactory.bodyguard import ANONYMOUS_BODY_MAX, NONE, OPTIONAL, REQUIRED, body_rule
from tests.api_operations import state_changing_operations
from tests.chaos.servers import WebServer, base_env
from tests.conftest import database_down

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

MB = 1024 * 1024
BIG = 300 * MB
UPLOAD_MAX = 1 * MB  # the server's EF_UPLOAD_MAX_BYTES
UPLOAD_CAP = UPLOAD_MAX + 10 * MB  # plus DATA_UPLOAD_MAX_MEMORY_SIZE of other fields
JWT_SECRET = "a-supabase-jwt-secret-of-at-least-32-characters"
UPLOAD = "/api/v1/library/videos/info"
MULTIPART = "multipart/form-data; boundary=guard"
FRONTEND_ORIGIN = "http://localhost:3000"
# What may be in flight when the server answers without reading: loopback socket buffers.
IN_FLIGHT = 32 * MB


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    dirs = {name: root / name for name in ("tmpdir", "ef_temp", "media")}
    for path in dirs.values():
        path.mkdir()
    env = base_env(
        EF_USE_TEST_DB="1",
        REDIS_URL=settings.REDIS_URL,
        TMPDIR=str(dirs["tmpdir"]),
        EF_TEMP_DIR=str(dirs["ef_temp"]),
        EF_MEDIA_DIR=str(dirs["media"]),
        EF_UPLOAD_MAX_BYTES=str(UPLOAD_MAX),
        EF_SUPABASE_JWT_SECRET=JWT_SECRET,
        EF_CORS_ORIGINS=FRONTEND_ORIGIN,
    )
    web = WebServer(env=env, log_dir=root)
    try:
        web.wait_ready()
        web.temp_dirs = list(dirs.values())
        yield web
    finally:
        web.stop()


@pytest.fixture(autouse=True)
def quiet_httpx(caplog):
    caplog.set_level(logging.WARNING, logger="httpx")  # no log line per request


@pytest.fixture
def token(user):
    return api_token_create(user=user, name="guard")[1]


# --- measuring the server -----------------------------------------------------------------------
def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def dir_usage(dirs) -> tuple[int, int]:
    """(files, bytes) under `dirs`."""
    files = size = 0
    for top in dirs:
        for root, _, names in os.walk(top):
            for name in names:
                files += 1
                size += os.stat(os.path.join(root, name)).st_size
    return files, size


def open_temp_files(pid: int, dirs) -> int:
    """Bytes in the files the process holds open under `dirs` (unlinked ones included)."""
    total = 0
    prefixes = tuple(str(d) for d in dirs)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefixes):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size + 1  # an empty file counts
        except OSError:
            continue  # closed meanwhile
    return total


class TempWatch:
    """Samples the server's open temp files every 5 ms while a request runs."""

    def __init__(self, server):
        self.server, self.peak, self._stop = server, 0, threading.Event()
        self.before = dir_usage(server.temp_dirs)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            seen = open_temp_files(self.server.process.pid, self.server.temp_dirs)
            self.peak = max(self.peak, seen)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.after = dir_usage(self.server.temp_dirs)


def stream(server, path: str, headers: dict, *, total=BIG, length=True, content_type=MULTIPART):
    """POST `total` bytes from a generator (with Content-Length, or chunked): the answer and
    how many bytes the client had handed over when it came."""
    pulled = [0]

    def body():
        chunk = b"x" * MB
        while pulled[0] < total:
            pulled[0] += len(chunk)
            yield chunk

    headers = {"Content-Type": content_type, **headers}
    if length:
        headers["Content-Length"] = str(total)
    response = httpx.post(server.base_url + path, content=body(), headers=headers, timeout=60)
    return response, pulled[0]


def answer_to_64_kib(server, path: str, headers: dict, *, length: int | None = BIG):
    """Send the request line, headers and 64 KiB of body, then wait (sending nothing more) for
    the answer: (status, headers, JSON body)."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Content-Type: {MULTIPART}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {length}" if length else "Transfer-Encoding: chunked")
    start = 64 * 1024
    body = b"x" * start if length else f"{start:x}\r\n".encode() + b"x" * start + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        ready, _, _ = select.select([sock], [], [], 10)
        assert ready, "no answer within 10 s: the server waits for the rest of the body"
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    head, payload = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode().split("\r\n")
    answer_headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), answer_headers, json.loads(payload)


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode().lower()
    return next(int(h.split(": ")[1]) for h in head.split("\r\n") if h.startswith("content-length"))


def supabase_token(secret=JWT_SECRET) -> str:
    now = int(time.time())
    claims = {
        "sub": "5b1c0a52-0000-4c7b-9d3e-2b6a1c9e0f11",
        "aud": "authenticated",
        "exp": now + 600,
    }
    return jwt.encode({**claims, "iat": now, "email": "guard@example.com"}, secret, "HS256")


def _unauthenticated(response, *, invalid=False):
    assert response.status_code == 401, response.text[:300]
    expected = 'Bearer realm="Edit Factory API"' + (', error="invalid_token"' if invalid else "")
    assert response.headers["www-authenticate"] == expected
    return response.json()["detail"]


# --- 300 MB that nobody may send ----------------------------------------------------------------
REFUSED = {
    "no token": ({}, True, 401),
    "bad token": ({"Authorization": "Bearer ef_not-a-real-token"}, True, 401),
    "bad Supabase token": ({"Authorization": f"Bearer {supabase_token('x' * 40)}"}, True, 401),
    "no token, chunked": ({}, False, 401),
    "good token, over the cap": ("token", True, 413),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_300_mb_body_is_answered_unread(server, token, case):
    headers, length, status = REFUSED[case]
    headers = {"Authorization": f"Bearer {token}"} if headers == "token" else headers
    started = time.monotonic()
    with TempWatch(server) as watch:
        response, pulled = stream(server, UPLOAD, headers, length=length)
    seconds = time.monotonic() - started
    print(f"{case}: {response.status_code} after {pulled // MB} MB of 300 sent, {seconds:.2f} s")
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["connection"] == "close"
    assert pulled < IN_FLIGHT, f"the client sent {pulled // MB} MB before the answer"
    assert watch.peak == 0, f"the server held {watch.peak} bytes in temp files"
    assert watch.after == watch.before
    if status == 413:
        assert response.json()["detail"] == (
            f"The request body is larger than {UPLOAD_CAP} bytes, the most an upload may carry "
            f"({UPLOAD_MAX} bytes of files, EF_UPLOAD_MAX_BYTES, plus {10 * MB} bytes of other "
            "fields)."
        )
    elif "Supabase" in case:
        assert (
            _unauthenticated(response, invalid=True) == "The access token's signature is invalid."
        )
    else:
        _unauthenticated(response, invalid="bad" in case)


def test_a_chunked_body_past_the_cap_is_cut_there(server, token):
    """A good token, no Content-Length: read up to the cap (spooled by Django, then freed),
    answered 413, never more."""
    with TempWatch(server) as watch:
        response, pulled = stream(
            server, UPLOAD, {"Authorization": f"Bearer {token}"}, length=False
        )
    assert response.status_code == 413, response.text[:300]
    assert str(UPLOAD_CAP) in response.json()["detail"]
    assert pulled < UPLOAD_CAP + IN_FLIGHT
    assert watch.peak <= UPLOAD_CAP + 1  # what Django spooled, until the cut
    assert open_temp_files(server.process.pid, server.temp_dirs) == 0  # and freed
    assert watch.after == watch.before


def test_the_admin_takes_no_large_body_without_a_session(server):
    with TempWatch(server) as watch:
        response, pulled = stream(server, "/admin/login/", {}, content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["detail"].startswith(
        f"The request body is larger than {ANONYMOUS_BODY_MAX} bytes, the most a request may "
        "carry without credentials"
    )
    assert pulled < IN_FLIGHT and watch.peak == 0 and watch.after == watch.before


def test_refused_bodies_cost_the_server_a_few_mb_of_memory_at_most(server, token):
    pid = server.process.pid
    cases = [{}, {"Authorization": "Bearer ef_bad"}, {"Authorization": f"Bearer {token}"}]
    for headers in cases:  # warm up every code path first
        stream(server, UPLOAD, headers, total=MB, length=False)
        stream(server, UPLOAD, headers)
    before = rss_kb(pid)
    for _ in range(2):
        for headers in cases:
            assert stream(server, UPLOAD, headers)[0].status_code in (401, 413)
    grown = rss_kb(pid) - before
    print(f"server RSS {before} kB before 6 x 300 MB refused bodies, grown by {grown} kB")
    assert grown < 4 * 1024


@pytest.mark.parametrize(
    "headers, length, status",
    [
        ({}, BIG, 401),
        ({"Authorization": "Bearer ef_bad"}, BIG, 401),
        ("token", BIG, 413),
        ({}, None, 401),
    ],
    ids=["no token", "bad token", "over the cap", "no token, chunked"],
)
def test_the_answer_comes_before_the_body(server, token, headers, length, status):
    headers = {"Authorization": f"Bearer {token}"} if headers == "token" else headers
    answer_status, answer_headers, body = answer_to_64_kib(server, UPLOAD, headers, length=length)
    assert answer_status == status and body["detail"]
    assert answer_headers["connection"] == "close"


def test_a_frontend_on_another_origin_can_read_the_refusal(server):
    """The refusal goes through Django's middleware: CORS and security headers as usual."""
    status, headers, _ = answer_to_64_kib(server, UPLOAD, {"Origin": FRONTEND_ORIGIN})
    assert status == 401
    assert headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    assert "www-authenticate" in headers["access-control-expose-headers"].lower()
    assert headers["x-content-type-options"] == "nosniff"


def test_the_database_down_is_a_503_before_the_body_is_read(token):
    """In process, through the product's ASGI application: the guard's credential check meets
    the outage and answers itself (its answers close the connection; Django's do not)."""

    async def post():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            headers = {"Authorization": f"Bearer {token}"}
            return await client.post(
                "/api/v1/library/projects", json={"name": "x"}, headers=headers
            )

    with database_down():
        response = asyncio.run(post())
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "5" and response.headers["connection"] == "close"


# --- what passes ------------------------------------------------------------------------------
def _upload(server, media, **headers) -> httpx.Response:
    with media.video(seconds=1).open("rb") as fh:
        return httpx.post(server.base_url + UPLOAD, files={"file": fh}, headers=headers, timeout=60)


def test_an_upload_within_the_cap_passes_with_each_kind_of_credential(server, media, user, token):
    assert _upload(server, media, Authorization=f"Bearer {token}").status_code == 202
    assert _upload(server, media, Authorization=f"Bearer {supabase_token()}").status_code == 202
    session = Client()
    session.force_login(user)
    csrf = "a" * 32
    cookies = f"sessionid={session.cookies['sessionid'].value}; csrftoken={csrf}"
    response = _upload(server, media, Cookie=cookies, **{"X-CSRFToken": csrf})
    assert response.status_code == 202, response.text
    refused = _upload(server, media, Cookie=cookies)  # no CSRF token: past the guard, then 403
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_every_state_changing_operation_without_credentials_is_a_401(server):
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for method, url in state_changing_operations():
            response = client.request(method, url, json={})
            assert _unauthenticated(response), (method, url)


def test_every_operation_that_takes_a_body_needs_credentials_before_it_is_read():
    rules = {(m, u): body_rule(m, u) for m, u in state_changing_operations()}
    assert {rule.credentials for rule in rules.values()} == {REQUIRED}
    assert rules[("POST", UPLOAD)].upload and rules[("POST", "/api/v1/video-info")].upload
    assert not rules[("POST", "/api/v1/library/projects")].upload
    assert body_rule("POST", "/api/v1/nowhere").credentials == NONE
    assert body_rule("POST", "/api/v1/ping").credentials == NONE  # a GET-only path
    assert body_rule("POST", "/admin/login/").credentials == OPTIONAL
