"""The polling path: GET /api/v1/jobs/{id} with a Bearer token, served by Django in one thread hop.

Django's ASGI handler spends more on a poll than the poll costs: request signals, the middleware
chain in a thread made for the request (with a fresh database connection), the async view on the
event loop, its queries in yet another thread. `PollHandler` is the same Django handler
(`ASGIHandler`, whose request and response code it reuses) with the same request path, run in
one hop to the ORM pool (core.asyncdb) whose threads keep their connections:

    request_started -> settings.MIDDLEWARE, loaded by Django's `BaseHandler.load_middleware` in
    sync mode -> URL resolution by ROOT_URLCONF -> view middleware -> the poll view ->
    response middleware -> request_finished

Every rule a middleware applies therefore applies to polls, and nothing here copies one: the
security headers, host validation (400), the SSL redirect, CORS, and whatever settings.MIDDLEWARE
gains later. A response a middleware makes by itself (a redirect, a 400) is sent as it is.

The poll view answers from the ninja view's own pieces: the Bearer rule of core.auth, the same
detail builder (jobs.polling.job_detail, plain SQL) and the API's renderer. It answers only what
it is sure of; anything doubtful is declined and Django's full handler answers the request from
the start: a query string (the poll takes none: core.strict's 422), no or unknown token (401),
an unknown or foreign job (404), a database error (503), a request body, a URL that resolves to
another view. A request declined by the view has been through the request side of the middleware
chain once already (the project's middleware keeps no state per request).
"""

import io
import logging
import re
from uuid import UUID

from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import DatabaseError
from django.http import HttpResponse
from django.urls import Resolver404, ResolverMatch, set_script_prefix
from django.views.decorators.csrf import csrf_exempt

from core.asyncdb import db_call
from core.auth import TOKEN_PREFIX, DeferredBearerTokenAuth, token_owner_id
from jobs.polling import job_detail

logger = logging.getLogger(__name__)

ROUTE = "api:job_detail"  # the ninja route whose GET this path serves
# Requests worth trying (anything else goes straight to Django): the route's path, a Bearer token.
_CANDIDATE_PATH = re.compile(r"/api/v1/jobs/[0-9a-fA-F-]{32,36}")
_BEARER = b"Bearer " + TOKEN_PREFIX.encode()
_DECLINED = "_ef_poll_declined"
_bearer = DeferredBearerTokenAuth()


@csrf_exempt  # as every ninja view
def poll_view(request, job_id: str):
    """The job's detail as the ninja view answers it, or a decline (see the module docstring)."""
    from editfactory.api import api  # the API's assembly imports this package

    try:
        job_id = UUID(job_id)
    except ValueError:  # ninja's 422
        return _decline(request)
    plain_get = request.method == "GET" and not request.META.get("QUERY_STRING")
    deferred = _bearer(request) if plain_get else None
    job_out = None
    try:
        owner_id = token_owner_id(deferred.token) if deferred else None
        if owner_id is not None:
            job_out = job_detail(owner_id=owner_id, job_id=job_id)
    except DatabaseError as exc:
        # One line, no traceback: during an outage every poll lands here, and Django's view
        # answers (and logs) the 503 right after.
        logger.warning("job poll fast path: database error (%s); Django answers", exc)
    if job_out is None:
        return _decline(request)
    return api.create_response(request, job_out.model_dump(), status=200)


class PollHandler(ASGIHandler):
    """Django's handler, middleware loaded in sync mode, whose only view is `poll_view`."""

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    def resolve_request(self, request):
        try:
            match = super().resolve_request(request)  # ROOT_URLCONF, as Django resolves
        except Resolver404:
            match = None
        if match is None or match.view_name != ROUTE:
            return ResolverMatch(_decline, (), {})
        return ResolverMatch(
            poll_view,
            match.args,
            match.kwargs,
            match.url_name,
            app_names=match.app_names,
            namespaces=match.namespaces,
            route=match.route,
        )

    def answer(self, scope, body: bytes):
        """The response to send, or None when Django's handler must answer (pool thread)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, io.BytesIO(body))
        response = self.get_response(request) if request is not None else error_response
        if request is None or getattr(request, _DECLINED, False):
            response.close()
            return None
        if not response.streaming:
            response.close()  # request_finished, as Django does once the response is out
        return response


def _decline(request, *args, **kwargs):
    """Marks the request for Django's handler; the response is discarded."""
    setattr(request, _DECLINED, True)
    return HttpResponse()


class JobPollingFastPath:
    """ASGI middleware around Django's application: polls go to a `PollHandler`."""

    def __init__(self, app):
        self.app = app
        self.handler = PollHandler()

    async def __call__(self, scope, receive, send):
        if not _candidate(scope):
            return await self.app(scope, receive, send)
        read = await _empty_body(receive)
        response = await db_call(self.handler.answer, scope, b"") if read[-1] is None else None
        if response is None:
            return await self.app(scope, _replay(read, receive), send)
        await self.handler.send_response(response, send)
        if response.streaming:
            await db_call(response.close)


def _candidate(scope) -> bool:
    """Cheap: may this request be a poll? (A no only sends it to Django sooner.)"""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False
    if scope.get("query_string") or not _CANDIDATE_PATH.fullmatch(scope["path"]):
        return False
    return any(k == b"authorization" and v.startswith(_BEARER) for k, v in scope["headers"])


async def _empty_body(receive) -> list:
    """The request's messages up to the end of its body, then None if it had none (a poll)."""
    read = []
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request" or message.get("body"):
            return read
        if not message.get("more_body"):
            return [*read, None]


def _replay(read: list, receive):
    """`receive` with the messages already read put back in front."""
    pending = [message for message in reversed(read) if message is not None]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed
