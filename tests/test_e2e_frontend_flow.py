"""The frontend's whole journey through the HTTP API with a real worker: create a project, upload,
generate variants, set content (TTS text + SRT), render a preset, poll progress, download, and see
the TTS usage in the costs. Only ElevenLabs' HTTP API is mocked (it answers real speech)."""

import json
from decimal import Decimal

import pytest

from media_pipeline.library.models import ExportPreset
from media_pipeline.ops.presets import PRESETS
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.media_pipeline.test_tts import elevenlabs_answer, elevenlabs_api  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)
API = "/api/v1/library"
SRT = "1\n00:00:00,000 --> 00:00:01,200\nHello there.\n\n2\n00:00:01,300 --> 00:00:02,500\nThis is a test.\n"


def _json(client, method, url, body):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def small_reels_preset(db):
    """An operator shrank a preset in the admin (presets are editable) to keep the test fast."""
    fields = PRESETS["instagram_reels"].as_dict()
    fields.update(width=180, height=320, fps=15, crf=30, x264_preset="ultrafast")
    ExportPreset.objects.update_or_create(name=fields.pop("name"), defaults=fields)


def test_frontend_flow_from_upload_to_download_with_costs(
    api,
    media,
    settings,
    elevenlabs_answer,  # noqa: F811 - the imported fixture
    small_reels_preset,
):
    text, answer = elevenlabs_answer
    settings.ELEVENLABS_API_KEY = "el-key"

    project = _json(api, "post", f"{API}/projects", {"name": "Launch teaser"}).json()
    with media.video(seconds=6, size="320x240").open("rb") as fh:
        started = api.post(
            f"{API}/projects/{project['id']}/generate",
            {"file": fh, "variant_count": 2, "target_duration": 2},
        )
    assert started.status_code == 202, started.content
    assert api.get(f"{API}/projects/{project['id']}").json()["status"] == "generating"
    run_burst_worker()

    progress = api.get(f"{API}/projects/{project['id']}/progress").json()
    assert progress["percentage"] == 100
    assert api.get(f"{API}/projects/{project['id']}").json()["status"] == "ready_for_triage"
    clips = api.get(f"{API}/projects/{project['id']}/clips").json()["items"]
    assert len(clips) == 2
    clip = clips[0]

    content = _json(
        api,
        "put",
        f"{API}/clips/{clip['id']}/content",
        {"tts_text": text, "tts_provider": "elevenlabs", "srt": SRT},
    )
    assert content.status_code == 200, content.content

    render = _json(api, "post", f"{API}/clips/{clip['id']}/render", {"preset": "instagram_reels"})
    assert render.status_code == 202, render.content
    queued = api.get(f"{API}/clips/{clip['id']}/render/progress").json()
    assert queued["percentage"] == 0 and queued["status"] in {"queued", "rendering"}
    with elevenlabs_api(settings, answer):
        run_burst_worker()
    done = api.get(f"{API}/clips/{clip['id']}/render/progress").json()
    assert (done["status"], done["percentage"]) == ("completed", 100), done

    download = api.get(f"{API}/clips/{clip['id']}/download")
    assert download.status_code == 200 and download["Content-Type"] == "video/mp4"
    out = settings.DATA_DIR / "e2e-download.mp4"
    out.write_bytes(b"".join(download.streaming_content))
    info = probe_media(out)
    assert (info.width, info.height, info.has_audio) == (180, 320, True)

    costs = api.get(f"{API}/usage/costs").json()
    (elevenlabs,) = [s for s in costs["by_service"] if s["service"] == "elevenlabs"]
    rate = Decimal(str(settings.COST_RATES["elevenlabs.characters"]))
    assert Decimal(str(elevenlabs["cost_usd"])) == (len(text) * rate).quantize(Decimal("0.000001"))
    assert Decimal(str(costs["today_usd"])) == Decimal(str(elevenlabs["cost_usd"])) > 0
    usage = api.get(f"{API}/usage").json()
    assert Decimal(str(usage["spent_usd"])) == Decimal(str(elevenlabs["cost_usd"]))
