"""Signed, expiring, per-object media links: what a browser loads in `<img>`, `<video>` or
`<a download>`, which cannot send an Authorization header.

Two forms, both signed with SECRET_KEY (django.core.signing) and carrying their owner and expiry:
- `signed_url(path)`: an API path with `?sig=...` bound to exactly that path (a clip's file, a
  job's file...). `SignedUrlAuth` accepts it on that path only: moved to another object, changed
  or expired, it is a 401 like a missing token.
- `media_token(name)`: an opaque token naming a stored file (the frontend contract's path
  tokens, `final_video_path` and the like), served by the `/files/{token}` routes and accepted
  back in request bodies. `read_media_token` refuses a tampered or expired one.
- `signed_object_id(kind, pk)`: an object id that carries its own signature,
  `<pk>.<expiry>.<signature>`, for a client that builds a media URL from an id alone (the
  frontend's source video stream). `read_signed_object_id` refuses a tampered or expired one,
  or one made for another object.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.crypto import constant_time_compare
from ninja.security import APIKeyQuery

from core.errors import DomainError

_URL_SALT = "ef.media.url"
_TOKEN_SALT = "ef.media.token"  # noqa: S105 - a signing namespace, not a secret
_ID_SALT = "ef.media.id"
SIGNATURE_PARAM = "sig"


class InvalidMediaLink(DomainError):
    """A media link or token that was tampered with, expired, or names something else."""

    code = "invalid_media_link"


@dataclass(frozen=True)
class MediaClaim:
    name: str  # storage name (media_token) or API path (signed_url)
    owner_id: int | None
    expires_at: int  # unix seconds


def _expiry(ttl: int | None) -> int:
    """Now + ttl (EF_MEDIA_URL_TTL), rounded up to a step of ttl/24 (at most an hour): the same
    object gets the same link for a while, so a page that polls keeps its <img>/<video> sources
    (and the browser's cache) instead of reloading them on every answer."""
    ttl = settings.MEDIA_URL_TTL if ttl is None else ttl
    expires = int(time.time()) + ttl
    step = min(ttl // 24, 3600)
    return expires + (-expires % step if step > 1 else 0)


def _sign(value: str, owner_id: int | None, ttl: int | None, salt: str) -> str:
    # No signing timestamp (a plain Signer, not signing.dumps): the expiry is in the payload,
    # and the same payload must give the same link (see _expiry).
    payload = {"v": value, "o": owner_id, "e": _expiry(ttl)}
    return signing.Signer(salt=salt).sign_object(payload, compress=True)


def _read(token: str, salt: str) -> MediaClaim:
    try:
        data = signing.Signer(salt=salt).unsign_object(token)
    except signing.BadSignature:
        raise InvalidMediaLink("the media link is not valid (altered or not ours)") from None
    claim = MediaClaim(name=data["v"], owner_id=data["o"], expires_at=data["e"])
    if claim.expires_at < time.time():
        raise InvalidMediaLink("the media link has expired: reload the page for a fresh one")
    return claim


def media_token(name: str, *, owner_id: int | None, ttl: int | None = None) -> str:
    """An opaque, URL-safe token for the stored file `name` (see the module doc)."""
    return _sign(name, owner_id, ttl, _TOKEN_SALT)


def read_media_token(token: str) -> MediaClaim:
    return _read(token, _TOKEN_SALT)


def signed_url(path: str, *, owner_id: int | None, ttl: int | None = None) -> str:
    """`path` (an absolute API path, no query) with a signature that opens exactly it."""
    return f"{path}?{SIGNATURE_PARAM}={_sign(path, owner_id, ttl, _URL_SALT)}"


def read_signed_path(signature: str) -> MediaClaim:
    return _read(signature, _URL_SALT)


class SignedUrlAuth(APIKeyQuery):
    """Authenticates a GET of a media path by its `sig` query parameter: the owner named in the
    signature, when the signature is valid, unexpired and was made for this very path."""

    param_name = SIGNATURE_PARAM

    def authenticate(self, request, key):
        if not key or request.method not in ("GET", "HEAD"):
            return None
        try:
            claim = read_signed_path(key)
        except InvalidMediaLink:
            return None
        if claim.name != request.path or claim.owner_id is None:
            return None
        user = get_user_model().objects.filter(pk=claim.owner_id, is_active=True).first()
        if user is not None:
            request.user = user
        return user


def _id_signature(kind: str, pk, expires_at: int) -> str:
    return signing.Signer(salt=_ID_SALT).signature(f"{kind}:{pk}:{expires_at}")


def signed_object_id(kind: str, pk, *, ttl: int | None = None) -> str:
    """`<pk>.<expiry>.<signature>` for the object `kind` `pk` (an int or a UUID; see the module
    doc). The expiry is the start of the current window plus the TTL (a window is a quarter of
    the TTL, at most an hour), so every listing within a window hands out the same id, valid for
    (TTL - window, TTL]."""
    ttl = settings.MEDIA_URL_TTL if ttl is None else ttl
    window = max(1, min(3600, ttl // 4))
    expires_at = int(time.time()) // window * window + ttl
    return f"{pk}.{expires_at}.{_id_signature(kind, pk, expires_at)}"


def object_id_pk(text: str) -> str:
    """The pk part of an object id, signed or plain (checked by whoever looks the object up)."""
    return text.partition(".")[0]


def read_signed_object_id(kind: str, text: str, *, parse=int):
    """The pk (read by `parse`: int, or uuid.UUID) of a valid, unexpired signed id of a `kind`
    object; InvalidMediaLink otherwise."""
    pk, expires_at, signature = (text.split(".") + ["", ""])[:3]
    try:
        pk_value, expiry = parse(pk), int(expires_at)
    except ValueError:
        raise InvalidMediaLink("the media link is not valid (altered or not ours)") from None
    if not constant_time_compare(signature, _id_signature(kind, pk_value, expiry)):
        raise InvalidMediaLink("the media link is not valid (altered or not ours)")
    if expiry < time.time():
        raise InvalidMediaLink("the media link has expired: reload the page for a fresh one")
    return pk_value
