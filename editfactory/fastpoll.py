"""The polling path: GET /api/v1/jobs/{id} and GET /api/v1/jobs (the list, which clients poll as
well) with a Bearer token, through Django's own request path in as few thread hops as Django's
middleware allows.

Django's ASGI handler spends more on a poll than the poll costs: a thread hop for each request
signal, the middleware chain in a thread made for the request (with a fresh database connection),
the async view back on the event loop, its queries in yet another thread. `PollHandler` is the
same handler (`ASGIHandler`: its request and response code is reused) with the same steps:

    request_started -> the middleware of settings.MIDDLEWARE, loaded by Django's
    `BaseHandler.load_middleware` -> URL resolution by ROOT_URLCONF -> view middleware -> the
    poll view (or the list view) -> response middleware -> the response -> request_finished

loaded for sync (`is_async=False`), so Django runs the chain's sync part in one go: one hop to
the ORM pool (core.asyncdb), whose threads keep their database connections. Where Django adapts
part of the chain to async (here from ServeStatic, which is async-only, outward) that part runs
on the event loop, as in Django's handler. The request signals are sent on the event loop thread,
without a hop: their receivers (Django's database and URL conf housekeeping) only touch that
thread's state, and the pool refreshes its own connections before each hop.

Every rule a middleware applies therefore applies to polls, and nothing here copies one: security
headers, host validation (400), the SSL redirect, CORS, whatever settings.MIDDLEWARE gains later.
A response a middleware makes by itself (a redirect, a 400, a refusal) is sent as it is.

The views answer from the ninja views' own pieces: the Bearer rule of core.auth, the same
builders (jobs.polling.job_detail and jobs.api.owner_job_page, plain SQL), the list's own
filter model (jobs.api.JobFilters) and the API's renderer. They answer only what they are sure
of; anything doubtful is declined and Django's full handler answers the request from the start:
a query string on the poll (it takes none: core.strict's 422), on the list a parameter it does
not take, one given twice or empty, a NUL character or a value its filter model refuses (422),
no or unknown token (401), an unknown or foreign job (404), a database error (503), a request
body, a URL that resolves to another view. A request declined by a view has been through the
request side of the middleware chain once already (the project's middleware keeps no state per
request).
"""

import contextvars
import io
import logging
import re
from uuid import UUID

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, set_script_prefix
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from core.asyncdb import db_call
from core.auth import TOKEN_PREFIX, DeferredBearerTokenAuth, token_owner_id
from jobs.api import JobFilters, owner_job_page
from jobs.polling import job_detail

logger = logging.getLogger(__name__)

# Requests worth trying (anything else goes straight to Django): a route's path, a Bearer token;
# a query string on the list's path only.
_POLL_PATH = re.compile(r"/api/v1/jobs/[0-9a-fA-F-]{32,36}")
_LIST_PATH = "/api/v1/jobs"
_BEARER = b"Bearer " + TOKEN_PREFIX.encode()
_DECLINED = "_ef_poll_declined"
_IN_POOL = contextvars.ContextVar("ef_poll_in_pool", default=False)
_bearer = DeferredBearerTokenAuth()


@csrf_exempt  # as every ninja view
def poll_view(request, job_id: str):
    """The job's detail as the ninja view answers it, or a decline (see the module docstring)."""
    try:
        job_id = UUID(job_id)
    except ValueError:  # ninja's 422
        return _decline(request)
    if request.META.get("QUERY_STRING"):
        return _decline(request)
    return _answer(request, lambda owner_id: job_detail(owner_id=owner_id, job_id=job_id))


@csrf_exempt
def list_view(request):
    """A page of the token owner's jobs as the ninja view answers it, or a decline."""
    filters = _list_filters(request.GET)
    if filters is None:
        return _decline(request)
    return _answer(request, lambda owner_id: owner_job_page(owner_id, filters))


def _list_filters(query) -> JobFilters | None:
    """The list's filters when the query string is one the ninja view would take as it is: each
    parameter one it takes, given once, not empty, without NUL; None otherwise (declined)."""
    params = {}
    for name, values in query.lists():
        value = values[0]
        if name not in JobFilters.model_fields or len(values) > 1 or not value or "\0" in value:
            return None
        params[name] = value
    try:
        return JobFilters.model_validate(params)
    except ValidationError:
        return None


def _answer(request, build):
    """`build(owner_id)`'s model for the Bearer token's owner as the API's renderer writes it,
    or a decline (not a GET, no or unknown token, nothing built, a database error)."""
    from editfactory.api import api  # the API's assembly imports this package

    deferred = _bearer(request) if request.method == "GET" else None
    built = None
    try:
        owner_id = token_owner_id(deferred.token) if deferred else None
        if owner_id is not None:
            built = build(owner_id)
    except DatabaseError as exc:
        # One line, no traceback: during an outage every poll lands here, and Django's view
        # answers (and logs) the 503 right after.
        logger.warning("job poll fast path: database error (%s); Django answers", exc)
    if built is None:
        return _decline(request)
    return api.create_response(request, built.model_dump(), status=200)


# The ninja routes whose GET this path serves, and the view answering each.
VIEWS = {"api:job_detail": poll_view, "api:list_jobs": list_view}


class PollHandler(ASGIHandler):
    """Django's ASGI handler with its middleware loaded for sync (`load_middleware(is_async=False)`)
    and `poll_view` as its only view. Its sync code runs on the ORM pool (core.asyncdb), whose
    threads keep their database connections."""

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        # An async-only middleware (ServeStatic) makes Django adapt the chain from it outward to
        # async: that part runs on the event loop, as in Django's handler, and the part inside
        # it in one hop to the pool.
        top = self._middleware_chain
        self.chain_is_async = isinstance(top, _AsyncPart)
        if self.chain_is_async:
            self._middleware_chain = top.coroutine_function

    def adapt_method_mode(self, is_async, method, method_is_async=None, debug=False, name=None):
        """Django's adaptation between sync and async parts, the sync ones run on the pool."""
        if method_is_async is None:
            method_is_async = iscoroutinefunction(method)
        if is_async and not method_is_async:
            return _SyncPart(method)
        if not is_async and method_is_async:
            return _AsyncPart(method)
        return method

    def resolve_request(self, request):
        try:
            match = super().resolve_request(request)  # ROOT_URLCONF, as Django resolves
        except Resolver404:
            match = None
        view = VIEWS.get(match.view_name) if match is not None else None
        if view is None:
            return ResolverMatch(_decline, (), {})
        return ResolverMatch(
            view,
            match.args,
            match.kwargs,
            match.url_name,
            app_names=match.app_names,
            namespaces=match.namespaces,
            route=match.route,
        )

    async def respond(self, scope) -> HttpResponseBase | None:
        """The response to a bodiless request, or None when Django's handler must answer it.
        The steps of ASGIHandler.handle (event loop)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, io.BytesIO())
        if request is not None:
            if self.chain_is_async:
                response = await self.get_response_async(request)
            else:
                response = await db_call(_in_pool, self.get_response, (request,), {})
        declined = request is None or getattr(request, _DECLINED, False)
        if declined or not response.streaming:
            response.close()  # request_finished
        return None if declined else response


class _SyncPart:
    """A sync part of the chain called from an async one: one hop to the ORM pool. Nested in
    a pool hop of the same request (an async-only middleware inside a sync-only one), it goes
    back to that hop's thread, blocked waiting for it (asgiref's thread-sensitive mode), rather
    than taking a second pool thread: with every pool thread waiting so, none would be left."""

    def __init__(self, function):
        self.function = function
        markcoroutinefunction(self)

    async def __call__(self, *args, **kwargs):
        if _IN_POOL.get():
            return await sync_to_async(self.function, thread_sensitive=True)(*args, **kwargs)
        return await db_call(_in_pool, self.function, args, kwargs)


def _in_pool(function, args, kwargs):
    token = _IN_POOL.set(True)
    try:
        return function(*args, **kwargs)
    finally:
        _IN_POOL.reset(token)  # asgiref copies the context back to the event loop


class _AsyncPart:
    """An async part of the chain called from a sync one (asgiref's async_to_sync); the top of
    the chain is awaited on the event loop instead."""

    def __init__(self, coroutine_function):
        self.coroutine_function = coroutine_function
        self.sync = async_to_sync(coroutine_function)

    def __call__(self, *args, **kwargs):
        return self.sync(*args, **kwargs)


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
        response = await self.handler.respond(scope) if read[-1] is None else None
        if response is None:
            return await self.app(scope, _replay(read, receive), send)
        await self.handler.send_response(response, send)
        if response.streaming:
            await sync_to_async(response.close)()


def _candidate(scope) -> bool:
    """Cheap: may this request be a poll? (A no only sends it to Django sooner.)"""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False
    path = scope["path"]
    if path != _LIST_PATH and (scope.get("query_string") or not _POLL_PATH.fullmatch(path)):
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
