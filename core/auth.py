"""API authentication: per-user Bearer tokens (stored as SHA-256 digests), Django sessions and
Supabase Auth access tokens (core.supabase_auth)."""

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.utils import timezone
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from core.media_urls import SignedUrlAuth
from core.models import ApiToken
from core.plainsql import Select
from core.supabase_auth import DeferredJwt, DeferredSupabaseJwtAuth, SupabaseJwtAuth

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
    row = _VALID_TOKEN.first(token_digest(token))
    if row is None:
        return None
    now = timezone.now()
    last = row["last_used_at"]
    if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=row["id"]).update(last_used_at=now)
    return row["user_id"]


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


# Session auth (admin login) for the browsable docs and same-origin frontends; CSRF-checked.
session_auth = SessionAuth(csrf=True)
# Supabase access tokens (JWTs) come last: an `ef_` token or a session never reaches them.
API_AUTH = [BearerTokenAuth(), session_auth, SupabaseJwtAuth()]
# For async endpoints (the hot polling paths); they must call resolve_auth() on request.auth.
ASYNC_API_AUTH = [DeferredBearerTokenAuth(), session_auth, DeferredSupabaseJwtAuth()]
# GETs of media a browser loads by URL (<img>, <video>, <a download>), which sends no header:
# the usual credentials, or a signed URL made for exactly that path (core.media_urls).
MEDIA_AUTH = [*API_AUTH, SignedUrlAuth()]
