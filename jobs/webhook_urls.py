"""Where the engine may POST a webhook: http(s) only, and every address the host resolves to
must be public, unless the host is in settings.WEBHOOK_ALLOWED_HOSTS. Checked at creation
(`validate_callback_url`) and again at each delivery (`resolve_target`: DNS rebinding), which
then connects to the checked address itself.

httpx is imported where a URL is parsed, not at the top: the engine's services import this module
in every process, workers included, and httpx brings ~9 MB (its CLI's rich and pygments)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from jobs.errors import InvalidCallbackUrl

if TYPE_CHECKING:
    import httpx

MAX_URL_LENGTH = 500


# --- where the engine may POST ------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str
    address: str  # the checked IP address the delivery connects to


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64's well-known and
# local-use prefixes (RFC 6052, RFC 8215), IPv4-translated (RFC 2765) and the deprecated
# IPv4-compatible form (RFC 4291). IPv4-mapped, 6to4 and Teredo have properties of their own.
_IPV4_IN_LAST_32_BITS = [
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("::/96"),
]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: a router of these forms forwards to them,
    so each must be public too (http://[2002:7f00:1::1]/ is 127.0.0.1 by 6to4)."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    found += [
        ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        for net in _IPV4_IN_LAST_32_BITS
        if ip in net and int(ip) & 0xFFFFFFFF
    ]
    return [v4 for v4 in found if v4 is not None]


def _is_public_ip(ip) -> bool:
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:  # a translation form: where it leads decides
            return all(_is_public_ip(v4) for v4 in embedded)
    return _is_public_ip(ip)


def resolve_target(url: str) -> Target:
    """Parse and resolve a callback URL; InvalidCallbackUrl when the engine must not POST there."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidCallbackUrl(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidCallbackUrl(f"callback_url is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidCallbackUrl("callback_url must be an http:// or https:// URL with a host")
    host = parsed.host.lower()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidCallbackUrl(f"callback_url host '{host}' does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if host not in settings.WEBHOOK_ALLOWED_HOSTS:
        refused = [a for a in addresses if not _is_public(a)]
        if refused:
            raise InvalidCallbackUrl(
                f"callback_url host '{host}' resolves to a non-public address ({refused[0]}); "
                "private, loopback, link-local, multicast and reserved addresses are refused"
            )
    return Target(url=parsed, host=host, address=addresses[0].split("%", 1)[0])


class CheckedUrl(str):
    """A callback URL `validate_callback_url` accepted: passed on, it is not resolved again."""


def validate_callback_url(url: str | None) -> str:
    """The URL to store on a job ('' for none); InvalidCallbackUrl (HTTP 422) when refused."""
    if not url:
        return ""
    if isinstance(url, CheckedUrl):
        return url
    resolve_target(url)
    return CheckedUrl(url)
