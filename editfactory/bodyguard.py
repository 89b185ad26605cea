"""Request bodies are read only for those allowed to send them, and only up to their route's cap.

Django's ASGI handler reads a request's whole body before anything else runs (past
FILE_UPLOAD_MAX_MEMORY_SIZE it spools it to the system temp dir), so authentication and the
upload limit used to come after a stranger's gigabytes had filled the disk. `BodyGuard` is an
ASGI wrapper in front of Django that decides from the request line and headers alone, before a
byte of the body is read:

- An API operation that needs credentials (every one that takes a body) is refused `401` (JSON,
  `WWW-Authenticate`) when the request has none that are valid: an `ef_` API token, the session
  cookie or a Supabase access token, checked as the API will check them (core.auth).
- The route's cap: an operation that takes files may carry `EF_UPLOAD_MAX_BYTES` of files plus
  DATA_UPLOAD_MAX_MEMORY_SIZE of other fields; any other API operation
  DATA_UPLOAD_MAX_MEMORY_SIZE (Django's own limit for non-file data). A request to a path or
  method the API does not serve, or to an operation without authentication, may carry
  ANONYMOUS_BODY_MAX; so may one outside the API (the admin's forms) unless its session cookie
  logs a user in. A `Content-Length` past the cap is refused `413` naming the limit, unread; a
  body without one (chunked) is counted as Django reads it and cut at the cap (`413`).

A refused request reaches Django with an empty body and its refusal in the ASGI scope, and
`RefusedBodyMiddleware` (early in MIDDLEWARE) answers it, so the answer has the API's error
shape, CORS and security headers like any other. The answer closes the connection: the client
stops sending and the server never reads the rest. uvicorn itself buffers at most 64 KiB of a
body its application has not asked for.
"""

import asyncio
import inspect
import logging
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse
from django.http.cookie import parse_cookie
from django.urls import Resolver404, resolve
from ninja.errors import AuthenticationError
from ninja.operation import PathView

from core import apierrors
from core.asyncdb import db_call
from core.auth import credentials_user_id
from core.errors import PayloadTooLarge
from core.strict import accepted_fields
from editfactory import legacy

logger = logging.getLogger(__name__)

SCOPE_KEY = "editfactory.refusal"  # (status, body, headers) for RefusedBodyMiddleware
# What a request without credentials may carry (an admin login form is well under 1 KiB).
ANONYMOUS_BODY_MAX = 64 * 1024
JSON = "application/json; charset=utf-8"  # as the API's own answers

REQUIRED, OPTIONAL, NONE = "required", "optional", "none"


@dataclass(frozen=True)
class BodyRule:
    credentials: str  # REQUIRED (a 401 without), OPTIONAL (they raise the cap), NONE (not asked)
    cap: int  # bytes, for a request with valid credentials (any request, for NONE)
    upload: bool  # the operation takes files


def upload_body_max() -> int:
    return settings.UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def api_operation(method: str, path: str):
    """The ninja operation that will answer `method path` (an alias: its successor's), or None
    when the API has none: an unknown path or method, a path outside the API."""
    path = legacy.successor_of(method, path) or path
    try:
        match = resolve(path)
    except Resolver404:
        return None
    # ninja's URL patterns call a closure over their PathView (ninja.operation.PathView.get_view)
    view = inspect.getclosurevars(match.func).nonlocals.get("self")
    if not isinstance(view, PathView):
        return None
    return next((op for op in view.operations if method in op.methods), None)


def body_rule(method: str, path: str) -> BodyRule:
    if not path.startswith("/api/"):
        return BodyRule(OPTIONAL, upload_body_max(), upload=True)
    operation = api_operation(method, path)
    if operation is None or not operation.auth_callbacks:
        return BodyRule(NONE, ANONYMOUS_BODY_MAX, upload=False)
    accepted = getattr(operation, "accepted_fields", None) or accepted_fields(operation)
    if accepted.files:
        return BodyRule(REQUIRED, upload_body_max(), upload=True)
    return BodyRule(REQUIRED, settings.DATA_UPLOAD_MAX_MEMORY_SIZE, upload=False)


def too_large(cap: int, *, upload: bool, anonymous: bool) -> PayloadTooLarge:
    if anonymous:
        message = (
            f"The request body is larger than {cap} bytes, the most a request may carry "
            "without credentials (or to a path that takes none)."
        )
    elif upload:
        message = (
            f"The request body is larger than {cap} bytes, the most an upload may carry "
            f"({settings.UPLOAD_MAX_BYTES} bytes of files, EF_UPLOAD_MAX_BYTES, plus "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes of other fields)."
        )
    else:
        message = apierrors.body_too_big_message()
    return PayloadTooLarge(message, [{"limit": cap}])


def _headers(scope) -> tuple[int | None, bool, str | None, str | None]:
    """(Content-Length, chunked, Authorization, session cookie) of a request."""
    length, chunked, authorization, cookies = None, False, None, []
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                chunked = True  # not a number (the server refuses it first): count the body
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"cookie":
            cookies.append(value.decode("latin-1"))
    session_key = parse_cookie("; ".join(cookies)).get(settings.SESSION_COOKIE_NAME)
    return length, chunked, authorization, session_key


class _EmptyBody:
    """`receive` for a refused request: an empty body, then nothing until Django, having
    answered, cancels its disconnect listener."""

    def __init__(self):
        self.given = False

    async def __call__(self):
        if not self.given:
            self.given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Future()


class _CappedBody:
    """`receive` that passes a body of unknown length on until it passes `cap`; then it ends
    the body and leaves the refusal in the scope (Django's handler is still reading: it has
    sent nothing) and reads no more."""

    def __init__(self, receive, scope: dict, cap: int, refusal: tuple):
        self.receive, self.scope, self.cap, self.refusal = receive, scope, cap, refusal
        self.received = 0
        self.cut = False

    async def __call__(self):
        if self.cut:
            await asyncio.Future()
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.cap:
                self.cut = True
                self.scope[SCOPE_KEY] = self.refusal
                logger.info("%s %s: body cut at %d bytes", *_who(self.scope), self.cap)
                return {"type": "http.request", "body": b"", "more_body": False}
        return message


def _closing(send, scope: dict):
    """`send` that closes the connection after answering a refused request."""

    async def closing_send(message):
        if message["type"] == "http.response.start" and SCOPE_KEY in scope:
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing_send


def _who(scope) -> tuple[str, str]:
    return scope["method"], scope["path"]


class BodyGuard:
    """ASGI wrapper (see the module docstring). Requests without a body pass untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length, chunked, authorization, session_key = _headers(scope)
        if not length and not chunked:
            return await self.app(scope, receive, send)
        scope = dict(scope)
        refusal, cap, over_cap = await self._check(scope, length, authorization, session_key)
        if refusal is None and length is not None and length > cap:
            refusal = apierrors.refusal(over_cap, credential_sent=False)
        if refusal is not None:
            scope[SCOPE_KEY] = refusal
            logger.info("%s %s: refused (%d) before reading its body", *_who(scope), refusal[0])
            return await self.app(scope, _EmptyBody(), _closing(send, scope))
        if length is not None:  # the server delivers exactly Content-Length bytes
            return await self.app(scope, receive, send)
        cut = apierrors.refusal(over_cap, credential_sent=False)
        return await self.app(scope, _CappedBody(receive, scope, cap, cut), _closing(send, scope))

    async def _check(self, scope, length, authorization, session_key):
        """(a refusal for missing or bad credentials or None, the cap that applies, the 413
        for a body past it)."""
        method, path = _who(scope)
        root = scope.get("root_path", "")
        rule = body_rule(method, path[len(root) :] if root and path.startswith(root) else path)
        cap, anonymous = rule.cap, rule.credentials == NONE
        small = length is not None and length <= ANONYMOUS_BODY_MAX
        if rule.credentials == REQUIRED or (rule.credentials == OPTIONAL and not small):
            try:
                await db_call(
                    credentials_user_id, authorization=authorization, session_key=session_key
                )
            except AuthenticationError as exc:
                if rule.credentials == REQUIRED:
                    sent = authorization is not None
                    return apierrors.refusal(exc, credential_sent=sent), cap, None
                cap, anonymous = ANONYMOUS_BODY_MAX, True
            except Exception as exc:  # Supabase's keys or the database unavailable: 503
                return apierrors.refusal(exc, credential_sent=False), cap, None
        elif rule.credentials == OPTIONAL:
            cap, anonymous = ANONYMOUS_BODY_MAX, True
        return None, cap, too_large(cap, upload=rule.upload, anonymous=anonymous)


class RefusedBodyMiddleware:
    """Answers a request BodyGuard refused (its refusal is in the ASGI scope), before anything
    reads the (empty) body. Placed after CorsMiddleware, so cross-origin frontends can read it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = getattr(request, "scope", {}).get(SCOPE_KEY)
        if refusal is None:
            return self.get_response(request)
        status, body, headers = refusal
        # Free what Django spooled of a cut body now: its handler closes it only after the
        # answer has been sent.
        request.close()
        response = JsonResponse(body, status=status, content_type=JSON)
        response["Content-Length"] = str(len(response.content))
        for name, value in headers.items():
            response[name] = value
        return response
