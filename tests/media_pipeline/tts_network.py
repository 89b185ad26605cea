"""Real connection failures for the TTS tests, without leaving the machine: the real edge-tts
client pointed at a closed 127.0.0.1 port, and a resolver that knows no name but the loopback's
(real DNS is never asked). No byte reaches edge-tts' or ElevenLabs' service."""

import socket

import edge_tts.communicate
import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "WSS_PROXY", "ALL_PROXY")
LOOPBACK = ("127.0.0.1", "::1", "localhost", None)


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_proxy(monkeypatch):
    """edge-tts trusts the environment's proxies: none here, so the failures are the target's."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def no_dns(monkeypatch, no_proxy):
    """Name lookups fail as they do without a network; the loopback still resolves (the
    database, Redis)."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host in LOOPBACK:
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.fixture
def edge_real_name(monkeypatch, no_dns):
    """edge-tts with its real host name (settings_test swaps it for a closed port), which the
    mocked resolver cannot look up: the failure of a machine without a network."""
    import edge_tts.constants

    monkeypatch.setattr(edge_tts.communicate, "WSS_URL", edge_tts.constants.WSS_URL)


@pytest.fixture
def edge_at_closed_port(monkeypatch, no_proxy) -> int:
    """The real edge-tts client, sent to a closed loopback port: aiohttp's real refusal."""
    port = closed_port()
    monkeypatch.setattr(
        edge_tts.communicate, "WSS_URL", f"wss://127.0.0.1:{port}/edge/v1?TrustedClientToken=x"
    )
    return port


def chain(exc: BaseException) -> list[BaseException]:
    links = []
    while exc is not None and len(links) < 10:
        links.append(exc)
        exc = exc.__cause__ or exc.__context__
    return links
