"""Supabase Auth access tokens as API credentials, beside our own `ef_` API tokens.

The web frontend signs its users in with Supabase Auth and sends the session's access token (a
JWT) as `Authorization: Bearer`. It is verified here (signature, issuer, audience, expiry,
subject) and its subject is mapped to a local user created on first sight, so ownership, budgets
and rate limits work on that user like on any other.

Keys come from configuration, never from the token: the project's JWT secret for HS256
(`EF_SUPABASE_JWT_SECRET`) and/or the public keys the project publishes in its JWKS for ES256 and
RS256 (`EF_SUPABASE_URL`). The token's `alg` only picks which configured key applies, and must
match that key: an HS256 token is refused unless the secret is configured (a public key is never
used as an HMAC secret), symmetric keys in the JWKS are ignored, and `none` is never accepted.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from ninja.security import HttpBearer

from core.apierrors import CredentialRejected
from core.errors import DomainError
from core.models import ExternalIdentity

if TYPE_CHECKING:
    import jwt

logger = logging.getLogger(__name__)

PROVIDER = "supabase"
HMAC_ALGORITHM = "HS256"
JWKS_ALGORITHMS = ("ES256", "RS256")  # what Supabase signs with when asymmetric keys are on
JWKS_PATH = "/auth/v1/.well-known/jwks.json"
JWKS_FETCH_TIMEOUT = 5.0
# An unknown kid (the project rotated its keys, or a forged token) refetches the JWKS at most
# this often, so forged tokens cannot make us call Supabase on every request.
JWKS_MIN_REFETCH_SECONDS = 30.0
# Keys past their cache lifetime keep serving this long while the JWKS cannot be fetched
# (stale-if-error): a short outage of Supabase's endpoint does not log every user out.
JWKS_STALE_IF_ERROR_SECONDS = 3600.0
LAST_SEEN_RESOLUTION = 60  # seconds: last_seen_at is refreshed at most this often

# header.payload.signature, base64url. API tokens (`ef_` + base64url, no dots) never match. An
# empty signature still matches so that an unsigned (`alg: none`) token is refused in words.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]", re.ASCII)
_USERNAME_MAX = 150
EMAIL_MAX = 254  # Django's User.email

# Monotonic clock of the JWKS cache (tests move it instead of sleeping).
_clock = time.monotonic


class AuthUnavailable(DomainError):
    """Supabase's signing keys cannot be had: our side's problem, not the user's (a 503, not a
    401 that would send the frontend to its login page)."""

    code = "auth_unavailable"
    permanent = False


class _JwksUnreachable(Exception):
    pass


def looks_like_jwt(token: str) -> bool:
    return _JWT_SHAPE.fullmatch(token) is not None


def jwks_url() -> str:
    return settings.SUPABASE_URL + JWKS_PATH


def issuer() -> str:
    return settings.SUPABASE_URL + "/auth/v1"


def _fetch_jwks(url: str) -> dict[str, jwt.PyJWK]:
    """The JWKS's asymmetric signing keys by kid. Other keys (symmetric, encryption, unknown
    types) are skipped: only keys that cannot be mistaken for an HMAC secret are kept."""
    import httpx  # here, like jwt below: every process loads the API's auth (workers too, by
    import jwt  # the URL checks), only a request with a Supabase token needs them (~15 MB)

    try:
        response = httpx.get(url, timeout=JWKS_FETCH_TIMEOUT)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise _JwksUnreachable(f"{type(exc).__name__}: {exc}") from exc
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in data.get("keys", []) if isinstance(data, dict) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("EC", "RSA"):
            continue
        if jwk.get("use", "sig") != "sig" or not jwk.get("kid"):
            continue
        try:
            key = jwt.PyJWK(jwk)
        except jwt.PyJWTError as exc:
            logger.warning("Supabase JWKS: skipping key %s: %s", jwk.get("kid"), exc)
            continue
        if key.algorithm_name in JWKS_ALGORITHMS:
            keys[jwk["kid"]] = key
    return keys


class JwksCache:
    """The project's public signing keys, fetched from its JWKS and kept for a bounded time
    (EF_SUPABASE_JWKS_CACHE_SECONDS). One process-wide cache; a lock makes concurrent misses
    cost one fetch."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self._url: str | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def key(self, url: str, kid: str) -> jwt.PyJWK | None:
        """The key named `kid`, or None when the project does not publish it (after a refetch,
        unless one happened less than JWKS_MIN_REFETCH_SECONDS ago). Raises AuthUnavailable
        when no usable copy of the JWKS can be had."""
        with self._lock:
            if url != self._url:
                self.clear()
                self._url = url
            now = _clock()
            ttl = settings.SUPABASE_JWKS_CACHE_SECONDS
            expired = self._fetched_at is None or now - self._fetched_at >= ttl
            may_fetch = (
                self._attempted_at is None or now - self._attempted_at >= JWKS_MIN_REFETCH_SECONDS
            )
            if (expired or kid not in self._keys) and may_fetch:
                self._attempted_at = now
                try:
                    self._keys = _fetch_jwks(url)
                    self._fetched_at = now
                except _JwksUnreachable as exc:
                    logger.warning("Supabase JWKS could not be fetched: %s", exc)
            age = None if self._fetched_at is None else now - self._fetched_at
            if age is None or age >= ttl + JWKS_STALE_IF_ERROR_SECONDS:
                raise AuthUnavailable(
                    "Supabase Auth's signing keys could not be fetched; try again shortly.",
                    headers={"Retry-After": str(int(JWKS_MIN_REFETCH_SECONDS))},
                )
            return self._keys.get(kid)


_jwks = JwksCache()


def _key_for(header: dict):
    """(key, algorithms) for this token header from the configured keys; raises
    CredentialRejected when the token's algorithm has no configured key."""
    alg = header.get("alg")
    secret, url = settings.SUPABASE_JWT_SECRET, settings.SUPABASE_URL
    if alg == HMAC_ALGORITHM:
        if not secret:
            raise CredentialRejected(
                "HS256 access tokens are not accepted: this server verifies Supabase tokens "
                "with the project's public signing keys (JWKS) only."
            )
        return secret, [HMAC_ALGORITHM]
    if alg in JWKS_ALGORITHMS:
        if not url:
            raise CredentialRejected(
                f"{alg} access tokens are not accepted: this server verifies Supabase tokens "
                "with the project's JWT secret (HS256) only."
            )
        kid = header.get("kid")
        if not kid:
            raise CredentialRejected("The access token does not name its signing key (kid).")
        jwk = _jwks.key(jwks_url(), kid)
        if jwk is None:
            raise CredentialRejected(
                "The access token is signed with a key the Supabase project does not publish "
                "(unknown kid)."
            )
        if jwk.algorithm_name != alg:
            raise CredentialRejected("The access token's algorithm does not match its key.")
        return jwk.key, [jwk.algorithm_name]
    raise CredentialRejected(
        f"Access tokens signed with {str(alg)[:20]!r} are not accepted (HS256, ES256 or RS256)."
    )


def verify_supabase_token(token: str) -> dict:
    """The claims of a valid Supabase access token; raises CredentialRejected saying what is
    wrong (never echoing a secret)."""
    if not settings.SUPABASE_JWT_SECRET and not settings.SUPABASE_URL:
        raise CredentialRejected(
            "Supabase Auth is not configured on this server (EF_SUPABASE_JWT_SECRET or "
            "EF_SUPABASE_URL): send an Edit Factory API token instead."
        )
    import jwt  # see _fetch_jwks

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise CredentialRejected("The access token is malformed.") from None
    key, algorithms = _key_for(header)
    audience = settings.SUPABASE_JWT_AUDIENCE
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer() if settings.SUPABASE_URL else None,
            leeway=settings.SUPABASE_JWT_LEEWAY,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise CredentialRejected(
            "The access token has expired: refresh the session or sign in again."
        ) from None
    except jwt.InvalidAudienceError:
        raise CredentialRejected(
            f"The access token is not meant for this API (audience is not {audience!r})."
        ) from None
    except jwt.InvalidIssuerError:
        raise CredentialRejected(
            "The access token was not issued by this server's Supabase project (wrong issuer)."
        ) from None
    except jwt.InvalidSignatureError:
        raise CredentialRejected("The access token's signature is invalid.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise CredentialRejected(
            f"The access token lacks the required {exc.claim!r} claim."
        ) from None
    except jwt.ImmatureSignatureError:
        raise CredentialRejected("The access token is not valid yet.") from None
    except jwt.DecodeError:
        raise CredentialRejected("The access token is malformed.") from None
    except jwt.PyJWTError as exc:
        raise CredentialRejected(f"The access token is invalid ({exc}).") from None
    subject = claims["sub"]
    if not subject or len(subject) > ExternalIdentity._meta.get_field("subject").max_length:
        raise CredentialRejected("The access token's subject (sub) is not a user id.")
    return claims


def _username_candidates(email: str, subject: str):
    """Usernames to try, most readable first: the email (Django-safe characters only), then with
    a subject prefix, then `supabase-<subject>`. Never an existing user: a token is never
    linked to a local account by its email, which would let a Supabase sign-up take it over."""
    short = re.sub(r"[^A-Za-z0-9]", "", subject)[:8] or "user"
    base = _USERNAME_UNSAFE.sub("", email.lower())[: _USERNAME_MAX - 9]
    if base:
        yield base
        yield f"{base}-{short}"
    yield f"supabase-{short}"
    yield f"supabase-{_USERNAME_UNSAFE.sub('', subject)}"[:_USERNAME_MAX]
    yield f"supabase-{short}-{secrets.token_hex(4)}"


def _identity(subject: str) -> ExternalIdentity | None:
    return (
        ExternalIdentity.objects.select_related("user")
        .filter(provider=PROVIDER, subject=subject)
        .first()
    )


def external_identity_create(*, subject: str, email: str) -> ExternalIdentity:
    """A new local user (unusable password: they sign in through Supabase only) and their
    identity, or the identity a concurrent first request just created (the unique constraint
    on (provider, subject) decides which one wins)."""
    User = get_user_model()
    for username in _username_candidates(email, subject):
        if User.objects.filter(username=username).exists():
            continue
        try:
            with transaction.atomic():
                user = User(username=username, email=email)
                user.set_unusable_password()
                user.save()
                identity = ExternalIdentity.objects.create(
                    provider=PROVIDER, subject=subject, user=user, last_seen_at=timezone.now()
                )
        except IntegrityError:
            # Same subject created concurrently (use theirs), or the username was just taken.
            existing = _identity(subject)
            if existing is not None:
                return existing
            continue
        logger.info("created user %s for Supabase user %s", username, subject)
        return identity
    raise AuthUnavailable("Could not create a local user for this account; try again.")


def user_for_claims(claims: dict):
    """The active local user of a verified token's subject, created on first sight."""
    subject = claims["sub"]
    email = claims.get("email")
    if not isinstance(email, str) or len(email) > EMAIL_MAX:
        email = ""  # phone sign-ins have none; an over-long one is not an address
    identity = _identity(subject) or external_identity_create(subject=subject, email=email)
    user = identity.user
    if not user.is_active:
        raise CredentialRejected("This account is deactivated.")
    now = timezone.now()
    last = identity.last_seen_at
    if last is None or (now - last).total_seconds() > LAST_SEEN_RESOLUTION:
        ExternalIdentity.objects.filter(pk=identity.pk).update(last_seen_at=now)
        if email and email != user.email:  # Supabase owns the address: follow its changes
            get_user_model().objects.filter(pk=user.pk).update(email=email)
            user.email = email
    return user


def user_for_supabase_token(token: str):
    return user_for_claims(verify_supabase_token(token))


class SupabaseJwtAuth(HttpBearer):
    """For sync endpoints (API_AUTH): a JWT-shaped Bearer token is checked now. Anything else
    is left to the other authenticators."""

    def authenticate(self, request, token: str):
        if not looks_like_jwt(token):
            return None
        user = user_for_supabase_token(token)
        request.user = user
        return user


class DeferredJwt:
    """A Supabase access token not yet checked: async endpoints resolve it in their ORM thread
    (`core.auth.resolve_auth`), where the user lookup, and a JWKS fetch, may block."""

    def __init__(self, token: str):
        self.token = token

    def resolve(self):
        return user_for_supabase_token(self.token)


class DeferredSupabaseJwtAuth(HttpBearer):
    def authenticate(self, request, token: str):
        return DeferredJwt(token) if looks_like_jwt(token) else None
