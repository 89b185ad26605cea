"""/library/audio/*: the tts job from a JSON body, the providers' voices (network providers mocked,
offline real) and the add_tts job from uploads or library videos plus an audio upload."""

import aiohttp
import edge_tts
import httpx
import pytest
import respx
from django.test import Client

from jobs.models import Job, JobFile
from jobs.status import JobStatus
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_videos.helpers import (
    API,
    created_job,
    error,
    fields,
    job_inputs,
    post,
    source_video,
)

# --- POST /audio/tts ----------------------------------------------------------------------------


def _tts(client, body):
    return client.post(f"{API}/audio/tts", body, content_type="application/json")


@pytest.mark.django_db
def test_tts_creates_the_job_with_its_params(api, user, hook_url):
    response = _tts(
        api,
        {
            "text": "  Hello there.  ",
            "provider": "offline",
            "voice": "gmw/en-US",
            "rate": 1.2,
            "callback_url": hook_url,
        },
    )
    job = created_job(response)
    assert (job.job_type, job.owner) == ("tts", user)
    assert job.params == {
        "text": "Hello there.",
        "provider": "offline",
        "voice": "gmw/en-US",
        "rate": 1.2,
        "max_pause": 0.3,
    }
    assert job.callback_url == hook_url
    assert not job.files.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "   ", "provider": "offline"}, "payload.text"),
        ({"provider": "offline"}, "payload.text"),
        ({"text": "hi", "provider": "polly"}, "payload.provider"),
        ({"text": "hi", "voice": "../../etc/passwd"}, "payload.voice"),
        ({"text": "hi", "rate": 9}, "payload.rate"),
        ({"text": "hi", "surprise": 1}, "payload.surprise"),
    ],
)
def test_tts_bad_body_is_422_with_the_field_path(api, body, field):
    response = _tts(api, body)
    assert response.status_code == 422
    assert field in fields(response)
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_tts_too_long_text_and_bad_callback_are_422(api, settings):
    settings.TTS_MAX_CHARS = 10
    too_long = _tts(api, {"text": "x" * 11, "provider": "offline"})
    assert too_long.status_code == 422 and "maximum is 10" in str(error(too_long)["details"])
    bad_url = _tts(api, {"text": "hi", "provider": "offline", "callback_url": "ftp://x/y"})
    assert bad_url.status_code == 422 and fields(bad_url) == {"callback_url"}
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_tts_without_credentials_is_401(client):
    assert _tts(client, {"text": "hi"}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_offline_tts_runs_to_audio_and_timings(api):
    job = created_job(_tts(api, {"text": "Hello there.", "provider": "offline"}))
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["provider"] == "offline" and job.result["duration"] > 0.3
    assert {"audio", "words", "srt"} <= set(job.files.values_list("label", flat=True))


# --- GET /audio/voices --------------------------------------------------------------------------


def _voices(client, **query):
    return client.get(f"{API}/audio/voices", query)


@pytest.mark.django_db
def test_offline_voices_are_real_and_filterable(api):
    body = _voices(api, provider="offline").json()
    assert body["provider"] == "offline"
    ids = {v["id"] for v in body["voices"]}
    assert {"gmw/en-US", "roa/fr"} <= ids
    french = _voices(api, provider="offline", language="fr").json()["voices"]
    assert french and all(v["language"].lower().startswith("fr") for v in french)
    assert len(french) < len(body["voices"])


@pytest.mark.django_db
def test_edge_voices_from_the_mocked_service(api, monkeypatch):
    async def listing():
        return [
            {"ShortName": "en-US-AriaNeural", "FriendlyName": "Aria", "Locale": "en-US",
             "Gender": "Female"},
        ]  # fmt: skip

    monkeypatch.setattr(edge_tts, "list_voices", listing)
    response = _voices(api, provider="edge")
    assert response.status_code == 200
    assert response.json() == {
        "provider": "edge",
        "voices": [
            {"id": "en-US-AriaNeural", "name": "Aria", "language": "en-US", "gender": "Female"}
        ],
    }

    async def unreachable():
        raise aiohttp.ClientConnectionError("Cannot connect to host")

    monkeypatch.setattr(edge_tts, "list_voices", unreachable)
    down = _voices(api, provider="edge")
    assert down.status_code == 503 and error(down)["code"] == "provider_unavailable"
    assert down["Retry-After"] == "30"


@pytest.mark.django_db
def test_default_provider_is_the_servers(api, settings):
    settings.TTS_DEFAULT_PROVIDER = "offline"
    assert _voices(api).json()["provider"] == "offline"


@pytest.mark.django_db
def test_elevenlabs_voices_through_the_mocked_api(api, settings):
    settings.ELEVENLABS_API_KEY = ""
    unconfigured = _voices(api, provider="elevenlabs")
    assert unconfigured.status_code == 503
    assert error(unconfigured)["code"] == "provider_not_configured"

    settings.ELEVENLABS_API_KEY = "key-1"
    with respx.mock(base_url=settings.ELEVENLABS_BASE_URL) as mock:
        route = mock.get("/v1/voices")
        route.respond(json={"voices": [{"voice_id": "abc", "name": "Rachel", "labels": {}}]})
        ok = _voices(api, provider="elevenlabs")
        assert ok.json()["voices"] == [
            {"id": "abc", "name": "Rachel", "language": "", "gender": None}
        ]
        assert route.calls.last.request.headers["xi-api-key"] == "key-1"
        route.respond(status_code=500, json={"detail": "boom"})
        assert _voices(api, provider="elevenlabs").status_code == 503
        route.side_effect = httpx.ConnectError("refused")
        assert _voices(api, provider="elevenlabs").status_code == 503
        route.side_effect = None
        route.respond(status_code=400, json={"detail": "bad"})
        refused = _voices(api, provider="elevenlabs")
        assert refused.status_code == 502 and error(refused)["code"] == "provider_error"


@pytest.mark.django_db
def test_voices_bad_provider_is_422_and_no_auth_is_401(api):
    response = _voices(api, provider="polly")
    assert response.status_code == 422 and "provider" in fields(response)
    assert _voices(Client(), provider="offline").status_code == 401


# --- POST /audio/add-to-videos ------------------------------------------------------------------


def _add(client, **kwargs):
    return post(client, "/audio/add-to-videos", **kwargs)


@pytest.mark.django_db
def test_add_to_uploaded_videos(api, user, media, hook_url):
    a, b, tone = media.video(seconds=1), media.video(seconds=1, audio=False), media.audio()
    job = created_job(
        _add(
            api,
            files={"files": [a, b], "audio": tone},
            params={"duck_level": 0.2},
            callback_url=hook_url,
        )
    )
    assert (job.job_type, job.owner) == ("add_tts", user)
    assert job.params == {"videos": 2, "duck_level": 0.2, "speech": None, "output_suffix": "_tts"}
    assert job.callback_url == hook_url
    assert {k: (v[0], v[2]) for k, v in job_inputs(job).items()} == {
        "video_0": (JobFile.Role.INPUT, a.stat().st_size),
        "video_1": (JobFile.Role.INPUT, b.stat().st_size),
        "audio": (JobFile.Role.INPUT, tone.stat().st_size),
    }


@pytest.mark.django_db
def test_add_to_library_videos(api, user, media):
    rows = [source_video(user, media.video(seconds=1)) for _ in range(3)]
    job = created_job(
        _add(api, files={"audio": media.audio()}, source_video_ids=[r.id for r in rows])
    )
    assert job.params == {"videos": 3, "duck_level": 0.1, "speech": None, "output_suffix": "_tts"}
    inputs = job_inputs(job)
    for i, row in enumerate(rows):
        assert inputs[f"video_{i}"] == (JobFile.Role.SHARED, row.file.name, row.size)
    assert inputs["audio"][0] == JobFile.Role.INPUT


@pytest.mark.django_db
def test_add_to_videos_refusals(api, user, other_user, media):
    mine, theirs = source_video(user, media.video()), source_video(other_user, media.video())
    tone = {"audio": media.audio()}
    neither = _add(api, files=tone)
    both = _add(api, files={**tone, "files": [media.video()]}, source_video_ids=[mine.id])
    for response in (neither, both):
        assert response.status_code == 422
        assert {"files", "source_video_ids"} <= fields(response)
    foreign = _add(api, files=tone, source_video_ids=[mine.id, theirs.id])
    assert foreign.status_code == 404 and error(foreign)["code"] == "not_found"
    too_many = _add(api, files=tone, source_video_ids=[mine.id] * 11)
    assert too_many.status_code == 422 and fields(too_many) == {"source_video_ids"}
    bad = _add(api, files=tone, source_video_ids=[mine.id], params={"duck_level": 2})
    assert bad.status_code == 422 and "params.duck_level" in fields(bad)
    wrong_count = _add(api, files=tone, source_video_ids=[mine.id], params={"videos": 2})
    assert wrong_count.status_code == 422 and fields(wrong_count) == {"params.videos"}
    no_audio = _add(api, source_video_ids=[mine.id])
    assert no_audio.status_code == 422 and "audio" in fields(no_audio)
    text_audio = _add(api, files={"audio": media.text_file()}, source_video_ids=[mine.id])
    assert text_audio.status_code == 415 and fields(text_audio) == {"audio"}
    silent = _add(
        api, files={"audio": media.video(seconds=1, audio=False)}, source_video_ids=[mine.id]
    )
    assert silent.status_code == 422 and "no audio stream" in error(silent)["message"]
    text_video = _add(api, files={**tone, "files": [media.video(), media.text_file()]})
    assert text_video.status_code == 415 and fields(text_video) == {"files.1"}
    empty_video = _add(api, files={**tone, "files": [media.empty_file()]})
    assert empty_video.status_code == 422 and fields(empty_video) == {"files.0"}
    no_auth = _add(Client(), files=tone, source_video_ids=[mine.id])
    assert no_auth.status_code == 401
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_add_to_library_videos_runs(api, user, media):
    rows = [
        source_video(user, media.video(seconds=1)),
        source_video(user, media.video(seconds=1, audio=False)),
    ]
    job = created_job(
        _add(api, files={"audio": media.audio(seconds=1)}, source_video_ids=[r.id for r in rows])
    )
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert [o["original_audio"] for o in job.result["outputs"]] == ["ducked", "none"]
    assert job.files.filter(role=JobFile.Role.OUTPUT, label__startswith="video_").count() == 2
