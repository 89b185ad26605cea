"""Network failures in words, for the messages a user reads (job errors, fallback reasons).

aiohttp, httpx and the socket layer describe a failed connection for a programmer: aiohttp's
`Cannot connect to host h:443 ssl:<ssl.SSLContext object at 0x7f…> [Name or service not known]`,
httpx's `[Errno -2] Name or service not known`. `network_cause` walks the exception and its
causes and says what happened and where ("the name speech.platform.bing.com could not be looked
up (no network, or an unknown host)"); `without_reprs` takes object reprs out of any text.

aiohttp and httpx are not imported here: an exception of theirs can only exist once they are
loaded, so they are looked up in `sys.modules` (the job engine uses this module too, and need not
load either library for it).
"""

import errno
import re
import socket
import ssl
import sys
from collections.abc import Iterator

# aiohttp's " ssl:<ssl.SSLContext object at 0x…>" goes whole; any other "<pkg.Thing object at
# 0x…>" becomes "Thing".
_SSL_REPR = re.compile(r"\s*ssl:<[^<>]*object at 0x[0-9a-fA-F]+>")
_REPR = re.compile(r"<(?:[\w]+\.)*(\w+) object at 0x[0-9a-fA-F]+>")
_MAX_CHAIN = 10


def without_reprs(text: str) -> str:
    """`text` with object reprs taken out (they name memory addresses, not causes)."""
    return " ".join(_REPR.sub(r"\1", _SSL_REPR.sub("", text)).split())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it (explicitly, else implicitly), without looping."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _module_class(module: str, name: str) -> type | None:
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded else None


def _isinstance(exc: BaseException, module: str, name: str) -> bool:
    cls = _module_class(module, name)
    return cls is not None and isinstance(exc, cls)


def _where(chain: list[BaseException]) -> str:
    """'host:port' (or 'host') the failed connection went to, '' when no link says."""
    for exc in chain:
        host = getattr(exc, "host", None)  # aiohttp's connector errors
        if isinstance(host, str) and host:
            port = getattr(exc, "port", None)
            return f"{host}:{port}" if port else host
        if _isinstance(exc, "httpx", "RequestError"):
            try:
                url = exc.request.url
            except RuntimeError:  # raised without a request
                continue
            return f"{url.host}:{url.port}" if url.port else url.host
    return ""


def _strerror(exc: OSError) -> str:
    return without_reprs(exc.strerror or str(exc) or type(exc).__name__)


NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
}


def _is_library_error(exc: BaseException) -> bool:
    return _isinstance(exc, "aiohttp", "ClientError") or _isinstance(exc, "httpx", "TransportError")


def _is_network_os_error(exc: BaseException) -> bool:
    """A socket-level failure (a disk or permission error is an OSError too, and is not one)."""
    return isinstance(exc, socket.gaierror | ssl.SSLError | ConnectionError) or (
        isinstance(exc, OSError) and exc.errno in NETWORK_ERRNOS
    )


def _os_cause(exc: OSError, where: str) -> str:
    at = f" {where}" if where else " the service"
    if isinstance(exc, socket.gaierror):
        name = where.rsplit(":", 1)[0] if where else "of the service"
        return (
            f"no network: the name {name} could not be looked up "
            f"({_strerror(exc)}; no network, or an unknown host)"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the secure connection to{at} failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"the secure connection to{at} failed ({exc.reason or _strerror(exc)})"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return f"the connection to{at} was refused (nothing listens there)"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return f"the connection to{at} was cut"
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return f"no answer from{at} in time (a slow or missing network)"
    if exc.errno in (errno.ENETUNREACH, errno.ENETDOWN):
        return f"no network: {where or 'the service'} is unreachable ({_strerror(exc)})"
    if exc.errno in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return f"no route to {where or 'the service'} ({_strerror(exc)})"
    return f"the connection to{at} failed ({_strerror(exc)})"


def network_cause(exc: BaseException) -> str | None:
    """What went wrong on the network, in words, or None when `exc` is no network failure (a
    chain with no aiohttp or httpx error and no socket-level one: a bare TimeoutError or a disk
    error is left to its own message).

    The most specific link of the chain decides: a name lookup, a TLS failure, an HTTP answer
    that is not the service's (a proxy, a captive portal), a timeout, a refused or cut
    connection; else the library's own message without reprs."""
    chain = list(_chain(exc))
    if not any(_is_library_error(link) or _is_network_os_error(link) for link in chain):
        return None
    where = _where(chain)
    for link in chain:
        if isinstance(link, socket.gaierror | ssl.SSLError):
            return _os_cause(link, where)
    for link in chain:
        if _isinstance(link, "aiohttp", "ClientResponseError"):
            return f"{where or 'the service'} answered HTTP {link.status} ({link.message})"
        if _isinstance(link, "httpx", "TimeoutException") or isinstance(link, TimeoutError):
            return _os_cause(TimeoutError(), where)
        if _isinstance(link, "aiohttp", "ServerDisconnectedError") or _isinstance(
            link, "httpx", "RemoteProtocolError"
        ):
            return f"{where or 'the service'} closed the connection without an answer"
    for link in chain:
        if _is_network_os_error(link):
            return _os_cause(link, where)
    text = without_reprs(str(chain[0])) or type(chain[0]).__name__
    return f"the connection to {where or 'the service'} failed ({text})"


def failure_words(exc: BaseException) -> str:
    """Why a call to a service failed, in words: the network cause, else a timeout, else the
    exception's own message without reprs (else its class name)."""
    cause = network_cause(exc)
    if cause:
        return cause
    if isinstance(exc, TimeoutError):
        return "no answer in time (a slow or missing network)"
    return without_reprs(str(exc)) or type(exc).__name__
