"""Clip renders and their voice: offline first (edge unreachable: the offline voice speaks, and
the job result, the clip, the render progress and the job's admin page say so), and the usage of
every TTS call in the cost ledger, the costs endpoint and the dashboard.

edge-tts is the real client sent to a closed 127.0.0.1 port, or a stand-in; ElevenLabs is respx."""

from decimal import Decimal

import edge_tts
import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import CostEntry, Job
from jobs.status import JobStatus
from media_pipeline.ops.tts import espeak
from tests.conftest import run_burst_worker
from tests.media_pipeline import tts_network
from tests.media_pipeline.api_render.conftest import API, add_content, post_json
from tests.media_pipeline.test_tts import (
    character_alignment,
    elevenlabs_api,
    encode_mp3,
    fake_communicate,
    pcm16,
    write_wav,
)

pytestmark = pytest.mark.django_db(transaction=True)
edge_at_closed_port = tts_network.edge_at_closed_port  # fixtures
no_proxy = tts_network.no_proxy

TEXT = "Hello there. This is the voice of the clip."
SPOKEN = "Hello there. This is a test."  # eSpeak times each of its words: an alignment follows


def render(api, clip) -> Job:
    response = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "tiny"})
    assert response.status_code == 202, response.content
    run_burst_worker()
    return Job.objects.get(id=response.json()["job_id"])


def staff_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def test_edge_unreachable_the_offline_voice_speaks_and_everyone_says_so(
    api, clip, tiny_preset, edge_at_closed_port, django_user_model
):
    add_content(clip, tts_text=TEXT, tts_provider="edge", voice="en-US-AriaNeural")
    job = render(api, clip)
    assert job.status == JobStatus.COMPLETED, job.error
    reason = (
        f"edge-tts could not be reached (the connection to 127.0.0.1:{edge_at_closed_port} "
        "was refused (nothing listens there))"
    )
    voice = job.result["voiceover"]
    assert (voice["provider"], voice["requested_provider"], voice["voice"]) == (
        "offline",
        "edge",
        "gmw/en-US",
    )
    assert voice["fallback"] == {"from": "edge", "reason": reason}
    assert voice["notice"] == (
        f"The voice-over was spoken by the offline voice (eSpeak NG, voice gmw/en-US) because "
        f"{reason} (EF_TTS_OFFLINE_FALLBACK is on)."
    )
    assert job.result["notices"] == [voice["notice"]]

    assert api.get(f"{API}/clips/{clip.id}").json()["render_voiceover"] == voice
    listed = api.get(f"{API}/clips").json()["items"]
    assert [c["render_voiceover"] for c in listed if c["id"] == clip.id] == [voice]
    assert api.get(f"{API}/clips/{clip.id}/render/progress").json()["voiceover"] == voice

    page = staff_client(django_user_model).get(reverse("admin:jobs_job_change", args=[job.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and '<li class="ef-notice">' in html
    assert f"127.0.0.1:{edge_at_closed_port} was refused" in html

    # Without a render, or before one completes, nothing is claimed.
    clip.exports.all().delete()
    assert api.get(f"{API}/clips/{clip.id}").json()["render_voiceover"] is None


def test_edge_unreachable_without_the_fallback_fails_naming_the_remedy(
    api, clip, tiny_preset, edge_at_closed_port, settings
):
    settings.TTS_OFFLINE_FALLBACK = False
    add_content(clip, tts_text=TEXT, tts_provider="edge")
    job = render(api, clip)
    if job.status == JobStatus.QUEUED:  # attempt 2 waits for its backoff: the message is final
        assert job.attempts == 1
    progress = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert progress["voiceover"] is None
    # Failed for good: `error`; still waiting for attempt 2: `rendering`, the attempt's message
    # in `last_attempt_error` (and `error` empty: the render has not failed).
    waiting = job.status == JobStatus.QUEUED
    assert progress["status"] == ("rendering" if waiting else "failed")
    shown = progress["last_attempt_error"] if waiting else progress["error"]
    assert (progress["error"] if waiting else progress["last_attempt_error"]) == ""
    for message in (job.error, shown):
        assert "object at 0x" not in message
        assert message.startswith("edge-tts could not be reached (the connection to 127.0.0.1:")
        assert message.endswith(
            "Use the offline voice (provider offline: tts_provider=offline in a clip's content) "
            "or set EF_TTS_OFFLINE_FALLBACK=1 to have it stand in automatically."
        )


@pytest.fixture
def speech(tmp_path):
    """Real speech (eSpeak NG) as the network providers send it: mp3, with word timings."""
    spoken = espeak.synthesize(SPOKEN)
    assert len(spoken.words) == len(SPOKEN.split())
    wav = write_wav(tmp_path / "speech.wav", spoken.sample_rate, pcm16(spoken))
    return spoken, encode_mp3(wav, 24000), encode_mp3(wav, 44100)


def test_every_tts_call_is_in_the_ledger_the_costs_and_the_dashboard(
    api, user, clip, tiny_preset, monkeypatch, settings, speech, django_user_model
):
    import base64

    spoken, edge_mp3, elevenlabs_mp3 = speech
    monkeypatch.setattr(edge_tts, "Communicate", fake_communicate(edge_mp3, spoken.words))
    settings.ELEVENLABS_API_KEY = "el-key"
    answer = {
        "audio_base64": base64.b64encode(elevenlabs_mp3).decode(),
        "alignment": character_alignment(SPOKEN, spoken.words),
    }
    content = add_content(clip, tts_text=SPOKEN)
    jobs = {}
    for provider in ("edge", "offline", "elevenlabs"):
        content.tts_provider = provider
        content.save()
        with elevenlabs_api(settings, answer):
            jobs[provider] = render(api, clip)
        assert jobs[provider].status == JobStatus.COMPLETED, jobs[provider].error
        assert jobs[provider].result["voiceover"]["provider"] == provider

    rate = Decimal(str(settings.COST_RATES["elevenlabs.characters"]))
    for provider, job in jobs.items():
        (entry,) = CostEntry.objects.filter(job=job)
        assert (entry.service, entry.operation, entry.owner) == (provider, "tts", user)
        assert (entry.units, entry.unit_name) == (len(SPOKEN), "characters")
        assert entry.audio_seconds == pytest.approx(Decimal(spoken.duration), abs=Decimal("0.1"))
        price = len(SPOKEN) * rate if provider == "elevenlabs" else 0
        assert entry.cost_usd == pytest.approx(price) and entry.cost_usd >= 0

    body = api.get(f"{API}/usage/costs").json()
    services = {s["service"]: s for s in body["by_service"]}
    assert set(services) == {"edge", "elevenlabs", "offline"}
    for provider in ("edge", "offline"):
        assert services[provider]["cost_usd"] == "0.000000"
    assert Decimal(services["elevenlabs"]["cost_usd"]) == (len(SPOKEN) * rate).quantize(
        Decimal("0.000001")
    )
    for total in services.values():
        assert total["entries"] == 1 and total["units"] == {"characters": len(SPOKEN)}
        assert total["audio_seconds"] == pytest.approx(spoken.duration, abs=0.1)
    assert body["total_usd"] == services["elevenlabs"]["cost_usd"]
    one_job = api.get(f"{API}/usage/costs", {"job_id": str(jobs["edge"].id)}).json()["job"]
    assert [(e["service"], e["cost_usd"]) for e in one_job["entries"]] == [("edge", "0.000000")]
    assert float(one_job["entries"][0]["audio_seconds"]) > 1

    page = staff_client(django_user_model).get(reverse("ef_dashboard"))
    usage = {row["service"]: row for row in page.context["usage"]}
    assert set(usage) == {"edge", "elevenlabs", "offline"}
    assert usage["edge"]["cost"] == 0 and usage["edge"]["units"] == [("characters", len(SPOKEN))]
    html = page.content.decode()
    assert f'<td class="ef-usage-units">{len(SPOKEN)} characters</td>' in html
    assert html.count('<tr data-service="') == 3
    assert {i["service"] for i in page.context["cost_chart"]["legend"]} == {"elevenlabs"}
