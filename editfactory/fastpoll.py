"""An ASGI fast path for the hottest endpoint: clients poll GET /api/v1/jobs/{id}.

Through Django's ASGI handler one request costs about fourteen thread hops (request signals,
the middleware chain, the response) and several ms of CPU, far more than the work itself. A poll
with a Bearer token needs none of it: no session, no CSRF, no cookie. So this wrapper answers
exactly that case itself with one pooled ORM hop, using the same token check, the same query and
schema (`job_out_for_user`) and the same JSON renderer as the ninja view.

Everything else, and every doubt, goes to Django, which owns errors and all other behaviour: no
or unknown token, unknown or foreign job (404), a database error (503), a cross-origin request
(CORS headers), a Host outside ALLOWED_HOSTS, plain HTTP under SECURE_SSL_REDIRECT, a query
string (the poll takes none: an unknown field is a 422, core.strict).
"""

import logging
import re
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host

from core.asyncdb import db_call
from core.auth import TOKEN_PREFIX, token_owner_id
from jobs.polling import job_detail

logger = logging.getLogger(__name__)

JOB_PATH = re.compile(r"/api/v1/jobs/([0-9a-fA-F-]{32,36})")

# What Django's middleware adds to a JSON response (tests compare both paths' headers).
_STATIC_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


def _security_headers() -> list[tuple[bytes, bytes]]:
    headers = [(b"x-frame-options", settings.X_FRAME_OPTIONS.encode())]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append((b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        coop = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()
        headers.append((b"cross-origin-opener-policy", coop))
    return headers


def _job_json(token: str, job_id: UUID) -> bytes | None:
    """The job's JSON body for the token's owner, or None (Django then answers 401 or 404)."""
    from editfactory.api import api  # the project's API imports this package

    owner_id = token_owner_id(token)
    job_out = job_detail(owner_id=owner_id, job_id=job_id) if owner_id is not None else None
    if job_out is None:
        return None
    return api.renderer.render(None, job_out.model_dump(), response_status=200).encode()


def _poll_request(scope) -> tuple[str, UUID] | None:
    """(token, job id) when this request is a plain Bearer poll the fast path may answer."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    if scope.get("query_string"):  # the poll takes none: Django refuses them (core.strict)
        return None
    match = JOB_PATH.fullmatch(scope["path"])
    if match is None:
        return None
    if settings.SECURE_SSL_REDIRECT and scope.get("scheme") != "https":
        return None
    headers = dict(scope["headers"])
    auth = headers.get(b"authorization", b"")
    if b"origin" in headers or not auth.startswith(b"Bearer " + TOKEN_PREFIX.encode()):
        return None
    domain, _port = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    try:
        return auth[7:].decode("ascii").strip(), UUID(match.group(1))
    except ValueError:
        return None


class JobPollingFastPath:
    """ASGI middleware around Django's application (see the module docstring)."""

    def __init__(self, app):
        self.app = app
        self.headers = _STATIC_HEADERS + _security_headers()

    async def __call__(self, scope, receive, send):
        poll = _poll_request(scope)
        body = await self._answer(*poll) if poll else None
        if body is None:
            return await self.app(scope, receive, send)
        headers = [*self.headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, token: str, job_id: UUID) -> bytes | None:
        try:
            return await db_call(_job_json, token, job_id)
        except DatabaseError as exc:
            # One line, no traceback: during an outage every poll lands here, and Django's view
            # answers (and logs) the 503 right after.
            logger.warning("job poll fast path: database error (%s); Django answers", exc)
            return None
