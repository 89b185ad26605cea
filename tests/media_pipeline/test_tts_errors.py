"""Offline first, and errors in words: real connection failures (a closed 127.0.0.1 port, a name
the mocked resolver cannot look up) reach the user as a cause and a remedy, never an object repr;
with the fallback on (the default) the offline voice speaks and the result says why."""

import asyncio
import ssl

import aiohttp
import pytest

from jobs import services
from jobs.models import CostEntry, Job
from jobs.status import JobStatus
from media_pipeline.ops.network_errors import network_cause, without_reprs
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.tts import espeak
from media_pipeline.ops.tts.base import ProviderUnavailable
from media_pipeline.ops.tts.synthesis import speak
from tests.conftest import run_burst_worker
from tests.media_pipeline import tts_network
from tests.media_pipeline.tts_network import chain, closed_port
from tests.stored import stored_path

edge_at_closed_port = tts_network.edge_at_closed_port  # fixtures
no_dns = tts_network.no_dns
edge_real_name = tts_network.edge_real_name
no_proxy = tts_network.no_proxy

REMEDY = (
    "Use the offline voice (provider offline: tts_provider=offline in a clip's content) "
    "or set EF_TTS_OFFLINE_FALLBACK=1 to have it stand in automatically."
)
NO_NAME = (
    "no network: the name {host} could not be looked up "
    "(Name or service not known; no network, or an unknown host)"
)


def unreachable(provider: str, tmp_path) -> ProviderUnavailable:
    with pytest.raises(ProviderUnavailable) as raised:
        speak("Hello there.", provider=provider, voice=None, out_dir=tmp_path)
    return raised.value


def assert_worded(message: str) -> None:
    assert "object at 0x" not in message and "ssl:" not in message
    assert "Error:" not in message and "Errno" not in message  # no class names, no errno codes


# --- the message a provider's failure becomes ------------------------------------------------


def test_edge_at_a_closed_port_is_refused_in_words_with_the_remedy(edge_at_closed_port, tmp_path):
    error = unreachable("edge", tmp_path)
    raw = next(e for e in chain(error) if isinstance(e, aiohttp.ClientConnectorError))
    assert "object at 0x" in str(raw)  # what aiohttp says: the repr the prototype showed
    assert str(error) == (
        f"edge-tts could not be reached (the connection to 127.0.0.1:{edge_at_closed_port} "
        f"was refused (nothing listens there)). {REMEDY}"
    )
    assert_worded(str(error))


def test_edge_without_name_lookup_says_no_network(edge_real_name, tmp_path):
    error = unreachable("edge", tmp_path)
    raw = next(e for e in chain(error) if isinstance(e, aiohttp.ClientConnectorError))
    assert "object at 0x" in str(raw) and "Name or service not known" in str(raw)
    host = NO_NAME.format(host="speech.platform.bing.com")
    assert str(error) == f"edge-tts could not be reached ({host}). {REMEDY}"
    assert_worded(str(error))


def test_elevenlabs_refused_and_without_name_lookup(settings, no_dns, tmp_path):
    settings.ELEVENLABS_API_KEY = "el-key"
    port = closed_port()
    settings.ELEVENLABS_BASE_URL = f"http://127.0.0.1:{port}"
    refused = unreachable("elevenlabs", tmp_path)
    assert str(refused) == (
        f"ElevenLabs could not be reached (the connection to 127.0.0.1:{port} was refused "
        f"(nothing listens there)). {REMEDY}"
    )
    settings.ELEVENLABS_BASE_URL = "https://api.elevenlabs.io"
    no_name = unreachable("elevenlabs", tmp_path)
    host = NO_NAME.format(host="api.elevenlabs.io")
    assert str(no_name) == f"ElevenLabs could not be reached ({host}). {REMEDY}"
    for error in (refused, no_name):
        assert_worded(str(error))


def test_when_the_offline_voice_fails_too_both_causes_are_named(
    edge_at_closed_port, monkeypatch, tmp_path
):
    def broken(*args, **kwargs):
        raise espeak.EspeakError("eSpeak NG could not be loaded")

    monkeypatch.setattr(espeak, "synthesize", broken)
    with pytest.raises(ProviderUnavailable) as raised:
        speak("Hello.", provider="edge", voice=None, out_dir=tmp_path, offline_fallback=True)
    assert str(raised.value) == (
        f"edge-tts could not be reached (the connection to 127.0.0.1:{edge_at_closed_port} was "
        "refused (nothing listens there)), and the offline voice could not stand in "
        "(eSpeak NG could not be loaded)"
    )


def test_reprs_go_from_any_text():
    text = "Cannot connect to host h:443 ssl:<ssl.SSLContext object at 0x7f01> [refused]"
    assert without_reprs(text) == "Cannot connect to host h:443 [refused]"
    assert without_reprs("got <foo.bar.Thing object at 0xAB12> here") == "got Thing here"
    assert network_cause(ValueError("no network here")) is None
    assert network_cause(OSError(28, "No space left on device")) is None  # a disk, not a network


# --- the job engine ----------------------------------------------------------------------------


async def _connect(port: int):
    async with aiohttp.ClientSession() as session:
        await session.get(f"https://127.0.0.1:{port}/", ssl=ssl.create_default_context())


@pytest.mark.django_db(transaction=True)
def test_a_network_error_escaping_a_handler_is_put_in_words(user, no_proxy):
    """Not every failure goes through a provider: the engine words a raw one itself."""
    port = closed_port()
    with pytest.raises(aiohttp.ClientConnectorError) as raw:
        asyncio.run(_connect(port))
    assert "object at 0x" in str(raw.value)
    job = services.job_create(job_type="test_flaky", owner=user, max_attempts=1)
    services.job_claim(job_id=job.id)
    services.job_handle_error(job_id=job.id, exc=raw.value, detail="traceback")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == (
        f"a network call failed: the connection to 127.0.0.1:{port} was refused "
        "(nothing listens there)"
    )


# --- the tts job, end to end -------------------------------------------------------------------


def run(job) -> Job:
    run_burst_worker()
    job.refresh_from_db()
    return job


@pytest.mark.django_db(transaction=True)
def test_tts_job_speaks_offline_by_default_and_fails_readably_without_fallback(
    user, settings, edge_at_closed_port
):
    params = {"text": "Hello there. This is offline speech.", "provider": "edge"}
    job = run(services.job_create(job_type="tts", params=params, owner=user))
    assert job.status == JobStatus.COMPLETED, job.error
    reason = (
        f"edge-tts could not be reached (the connection to 127.0.0.1:{edge_at_closed_port} "
        "was refused (nothing listens there))"
    )
    assert (job.result["provider"], job.result["requested_provider"]) == ("offline", "edge")
    assert job.result["fallback"] == {"from": "edge", "reason": reason}
    assert job.result["notices"] == [
        f"The voice-over was spoken by the offline voice (eSpeak NG, voice gmw/en-US) because "
        f"{reason} (EF_TTS_OFFLINE_FALLBACK is on)."
    ]
    audio = stored_path(job.files.get(label="audio").name)
    assert probe_media(audio).duration > 1
    (usage,) = CostEntry.objects.filter(job=job)
    assert (usage.service, usage.units, usage.unit_name) == (
        "offline",
        len(params["text"]),
        "characters",
    )
    assert usage.cost_usd == 0 and usage.audio_seconds > 1

    settings.TTS_OFFLINE_FALLBACK = False
    failed = run(services.job_create(job_type="tts", params=params, owner=user, max_attempts=1))
    assert failed.status == JobStatus.FAILED
    assert failed.error == f"{reason}. {REMEDY}"
    assert_worded(failed.error)


def test_tests_never_reach_the_real_edge_service(no_proxy, tmp_path):
    # settings_test points edge-tts at a closed loopback port in every test process.
    error = unreachable("edge", tmp_path)
    assert "the connection to 127.0.0.1:9 was refused" in str(error)
