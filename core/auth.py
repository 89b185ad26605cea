"""API authentication: per-user Bearer tokens (stored as SHA-256 digests), Django sessions and
Supabase Auth access tokens (core.supabase_auth)."""

import hashlib
import logging
import secrets
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf
from redis.exceptions import RedisError, ResponseError

from core.apierrors import CSRF_FAILED
from core.media_urls import SignedUrlAuth
from core.models import ApiToken
from core.plainsql import Select
from core.redisconn import shared_redis
from core.supabase_auth import (
    DeferredJwt,
    DeferredSupabaseJwtAuth,
    SupabaseJwtAuth,
    looks_like_jwt,
    user_for_supabase_token,
)

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "ef_"  # noqa: S105 - a public marker, not a secret
LAST_USED_RESOLUTION = 60  # seconds: last_used_at is refreshed at most this often


def token_digest(raw: str) -> str:
    # Tokens are 256-bit random secrets, so a fast unsalted digest is safe (nothing to brute-force).
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the raw token, which is never stored or shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], digest=token_digest(raw))
    return token, raw


# Checked on every authenticated request, so written in SQL once (see core.plainsql): the token
# by digest, unrevoked, of an active user (AUTH_USER_MODEL is Django's auth.User).
_VALID_TOKEN = Select(
    ApiToken,
    ["id", "user_id", "last_used_at"],
    'JOIN "auth_user" ON "auth_user"."id" = "jobs_apitoken"."user_id"'
    ' WHERE "jobs_apitoken"."digest" = %s AND NOT "jobs_apitoken"."revoked"'
    ' AND "auth_user"."is_active"',
)


def token_owner_id(token: str) -> int | None:
    """The id of the active user owning this unrevoked token, or None. Notes the token's use."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_digest(token)
    row = _VALID_TOKEN.first(digest)
    if row is None:
        return None
    now = timezone.now()
    if _is_stale(row["last_used_at"], now) and _is_stale(_noted_here.get(digest), now):
        _note_token_use(row["id"], now)
        _remember_noted(digest, now)
    return row["user_id"]


def _is_stale(last, now) -> bool:
    return last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION


# The uses this process noted lately, by token digest (a row's id can be reused by a later
# token; a digest cannot): until the maintenance loop writes them to the row, a client polling
# every second would otherwise cost Redis one write per request. Bounded: cleared when full.
_noted_here: dict[str, datetime] = {}
_NOTED_HERE_MAX = 10_000


def _remember_noted(digest: str, when: datetime) -> None:
    if len(_noted_here) >= _NOTED_HERE_MAX:
        _noted_here.clear()
    _noted_here[digest] = when


# A token's last use is noted in Redis and written to its row by the maintenance loop
# (tokens_flush_last_use), so that no request, a GET least of all, writes the database.
_LAST_USE = "ef:token-last-use"  # hash: token id -> ISO time of its latest noted use


def _note_token_use(token_id: int, when) -> None:
    try:
        shared_redis().hset(_LAST_USE, str(token_id), when.isoformat())
    except RedisError as exc:  # bookkeeping: never worth failing the request
        logger.warning("token last use not noted (Redis: %s)", exc)


def tokens_flush_last_use() -> int:
    """Write the last uses noted since the previous flush to the tokens' rows; how many.
    The noted hash is renamed first (atomic), so uses noted meanwhile wait for the next flush."""
    client = shared_redis()
    flushing = _LAST_USE + ":flushing"
    if not client.exists(flushing):  # else: what a crashed flush left, written first
        try:
            client.rename(_LAST_USE, flushing)
        except ResponseError:  # no such key: nothing noted
            return 0
    noted = client.hgetall(flushing)
    for token_id, when in noted.items():
        ApiToken.objects.filter(pk=int(token_id)).update(
            last_used_at=datetime.fromisoformat(when.decode())
        )
    client.delete(flushing)
    return len(noted)


def user_for_token(token: str):
    """The active user owning this unrevoked token, or None."""
    user_id = token_owner_id(token)
    return get_user_model().objects.get(pk=user_id) if user_id is not None else None


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


class DeferredToken:
    """A Bearer token not yet checked. Async endpoints resolve it in the same pooled-thread hop as
    their own queries (`resolve_auth`), saving a thread round trip on the hot polling path."""

    def __init__(self, token: str):
        self.token = token


class DeferredBearerTokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        return DeferredToken(token) if token.startswith(TOKEN_PREFIX) else None


def resolve_auth_id(auth) -> int:
    """The id of the user behind `request.auth` (as resolve_auth), without reading the user's
    row when a token is enough: for endpoints that need only the owner's id."""
    if isinstance(auth, DeferredToken):
        user_id = token_owner_id(auth.token)
        if user_id is None:
            raise AuthenticationError()
        return user_id
    return resolve_auth(auth).pk


def resolve_auth(auth):
    """The user behind `request.auth` of an endpoint using ASYNC_API_AUTH (call in an ORM thread).
    Raises AuthenticationError (401) for a bad token."""
    if isinstance(auth, DeferredJwt):
        return auth.resolve()
    if not isinstance(auth, DeferredToken):
        return auth  # a session user
    user = user_for_token(auth.token)
    if user is None:
        raise AuthenticationError()
    return user


class SessionCookieAuth(SessionAuth):
    """The Django session (an admin login) as API credentials, for the browsable docs and
    same-origin frontends. CSRF is checked only when the session cookie is what authenticates
    the request: a request without credentials is a 401 saying what to send, and one with a
    Bearer token (tried before this) needs no CSRF token."""

    def __init__(self):
        super().__init__(csrf=False)  # ninja's check would run before knowing who is there

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is None or getattr(request, "_ninja_csrf_exempt", False):
            return user
        if check_csrf(request) is not None:
            raise HttpError(403, CSRF_FAILED)
        return user


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, read as ninja's HttpBearer does."""
    parts = (authorization or "").split(" ")
    if len(parts) < 2 or parts[0].lower() != "bearer":
        return None
    return " ".join(parts[1:])


def session_user_id(session_key: str) -> int | None:
    """The id of the active user a session cookie logs in, as Django's AuthenticationMiddleware
    will find it (the backend, the user, the session's auth hash), or None. Read-only: the
    request itself, if it goes on, flushes a session that does not verify."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = get_user_model()._meta.pk.to_python(store[SESSION_KEY])
        backend_path = store[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    session_hash = store.get(HASH_SESSION_KEY)
    if user is None or not session_hash:
        return None
    hashes = [user.get_session_auth_hash()]
    hashes += [user._get_session_auth_hash(secret=s) for s in settings.SECRET_KEY_FALLBACKS]
    return user.pk if any(constant_time_compare(session_hash, h) for h in hashes) else None


def credentials_user_id(*, authorization: str | None, session_key: str | None) -> int:
    """Who a request's credentials name, tried in API_AUTH's order (an `ef_` token, the session
    cookie, a Supabase access token), from its headers alone: editfactory.bodyguard asks before
    reading a body. Raises AuthenticationError (CredentialRejected saying what is wrong with a
    Supabase token) when none is valid; AuthUnavailable when Supabase's keys cannot be had."""
    token = bearer_token(authorization)
    if token and token.startswith(TOKEN_PREFIX):
        user_id = token_owner_id(token)
        if user_id is not None:
            return user_id
    if session_key:
        user_id = session_user_id(session_key)
        if user_id is not None:
            return user_id
    if token and looks_like_jwt(token):
        return user_for_supabase_token(token).pk
    raise AuthenticationError()


session_auth = SessionCookieAuth()
# Supabase access tokens (JWTs) come last: an `ef_` token or a session never reaches them.
API_AUTH = [BearerTokenAuth(), session_auth, SupabaseJwtAuth()]
# For async endpoints (the hot polling paths); they must call resolve_auth() on request.auth.
ASYNC_API_AUTH = [DeferredBearerTokenAuth(), session_auth, DeferredSupabaseJwtAuth()]
# GETs of media a browser loads by URL (<img>, <video>, <a download>), which sends no header:
# the usual credentials, or a signed URL made for exactly that path (core.media_urls).
MEDIA_AUTH = [*API_AUTH, SignedUrlAuth()]
