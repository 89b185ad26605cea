"""The main page's job calls (contract 4.1, 4.1.1, 4.1.2, 5.1, 5.2), one test per call: the
exact request the page sends (multipart field names, values as strings, plus the Bearer token),
run on a real burst worker with real ffmpeg on small lavfi media, and every field the page
reads asserted."""

import json

import httpx
import pytest
import respx
from django.test import Client

from jobs import services
from jobs.models import CostEntry, Job
from jobs.status import JobStatus
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.frontend import main_fixtures
from tests.frontend.library_fixtures import BASE, body_of, offline_voice  # noqa: F401
from tests.frontend.main_fixtures import (
    PROGRESS_TEXT,
    file_url,
    job_form,
    multi_form,
    srt_blob,
    upload,
)

pytestmark = pytest.mark.django_db(transaction=True)
varied_video = main_fixtures.varied_video


def _completed(api, job_id: str) -> dict:
    run_burst_worker()
    job = api.get(f"{BASE}/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    return job


def _video_of(token: str, tmp_path, name="out.mp4"):
    out = tmp_path / name
    response = Client().get(file_url(token))  # a media URL: no header
    assert response.status_code == 200
    out.write_bytes(body_of(response))
    return probe_media(out)


def test_post_jobs_with_an_audio_track(api, varied_video, media, tmp_path):
    form = job_form(
        varied_video,
        srt=srt_blob(),
        audio=upload(media.audio(seconds=4), "voice.m4a", "audio/mp4"),
        output_name="Reel parfum",
        target_duration="3",
        variant_count="2",
        generate_audio="true",
        mute_source_voice="false",
    )
    started = api.post(f"{BASE}/jobs", form)
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["status"] == "pending" and isinstance(body["job_id"], str)
    job_row = Job.objects.get()
    assert job_row.job_type == "process"
    params = job_row.params
    assert params["target_duration"] == 3 and params["variant_count"] == 2
    assert params["replace_audio"] is True and params["voiceover"] is None
    assert params["output_name"] == "Reel parfum" and params["voice_mute"] is None
    style = params["subtitle_style"]
    assert style["positionY"] == 85 and style["fontFamily"].startswith("var(--font-montserrat)")
    assert params["srt"].startswith("1\n00:00:00,000 --> 00:00:01,500\nThree tips")

    job = _completed(api, body["job_id"])
    assert job["job_id"] == body["job_id"] and job["error"] is None
    assert PROGRESS_TEXT.match(job["progress"]) and job["progress"].startswith("100%")
    variants = job["result"]["variants"]
    assert [v["variant_index"] for v in variants] == [1, 2]
    assert [v["variant_name"] for v in variants] == ["Reel parfum_v1", "Reel parfum_v2"]
    for variant in variants:
        info = _video_of(variant["final_video"], tmp_path)
        assert info.has_audio and info.duration == pytest.approx(3, abs=0.2)


@pytest.mark.usefixtures("offline_voice")
def test_post_jobs_voicing_the_script(api, varied_video, tmp_path):
    form = job_form(
        varied_video,
        target_duration="3",
        script_text="Three tips for you.",
        context_text="a fractal zoom",
        generate_audio="true",
    )
    started = api.post(f"{BASE}/jobs", form)
    assert started.status_code == 202, started.content
    params = Job.objects.get().params
    assert params["voiceover"]["text"] == "Three tips for you." and not params["replace_audio"]
    assert params["context_text"] == "a fractal zoom" and "srt" not in params or not params["srt"]
    job = _completed(api, started.json()["job_id"])
    row = Job.objects.get()
    assert row.result["analysis"]["provider"] == "local"  # no Gemini key here: it says why
    assert "context was not used" in row.result["analysis"]["context_note"]
    info = _video_of(job["result"]["variants"][0]["final_video"], tmp_path)
    assert info.has_audio


def test_post_jobs_context_text_guides_gemini(api, varied_video, settings):
    """With Gemini configured (its HTTP mocked), the page's context picks the segments."""
    settings.GEMINI_API_KEY, settings.GEMINI_BASE_URL = "test-key", "https://gemini.test"
    settings.GEMINI_MODEL = "gemini-test"

    def answer(request: httpx.Request) -> httpx.Response:  # runs in the worker's work horse
        prompt = json.loads(request.content)["contents"][0]["parts"][0]["text"]
        start, end = (1, 7) if "a fractal zoom" in prompt else (0, 1)  # the context was sent
        segment = {"start": start, "end": end, "score": 90, "reason": "zoom"}
        text = json.dumps({"segments": [segment]})
        return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": text}]}}]})

    form = job_form(varied_video, target_duration="3", context_text="a fractal zoom")
    with respx.mock(assert_all_called=False) as mock:
        mock.post("https://gemini.test/v1beta/models/gemini-test:generateContent").mock(
            side_effect=answer
        )
        started = api.post(f"{BASE}/jobs", form)
        assert started.status_code == 202, started.content
        _completed(api, started.json()["job_id"])
    row = Job.objects.get()
    assert row.result["analysis"]["provider"] == "gemini"
    assert row.result["analysis"]["context_note"] is None
    assert CostEntry.objects.filter(job=row, service="gemini").exists()
    segment = row.result["variants"][0]["segments"][0]
    assert 1 <= segment["start"] and segment["end"] <= 7


def test_post_jobs_silent_variants_keep_the_script(api, varied_video):
    """generate_audio false (the page's default): variants for triage, the script kept."""
    form = job_form(varied_video, target_duration="3", script_text="Later, a voice-over.")
    started = api.post(f"{BASE}/jobs", form)
    assert started.status_code == 202, started.content
    params = Job.objects.get().params
    assert params["script_text"] == "Later, a voice-over." and params["voiceover"] is None
    assert not params["replace_audio"]


@pytest.mark.usefixtures("offline_voice")
def test_post_multi_video_with_only_the_second_slot(api, media, tmp_path):
    main = media.video(seconds=5, size="320x240")
    secondary = media.video(seconds=3, size="160x120", audio=False)
    form = multi_form(
        main,
        {2: (secondary, " roșu, car ")},
        secondary_segment_duration="1.5",
        target_duration="4",
        output_name="multi reel",
        mute_source_voice="true",
        generate_audio="true",
        script_text="Look at the red car.",
    )
    started = api.post(f"{BASE}/jobs/multi-video", form)
    assert started.status_code == 202, started.content
    row = Job.objects.get()
    assert row.job_type == "multi_video"
    assert row.params["keywords"] == [["roșu", "car"]]
    assert row.params["insert_duration"] == 1.5 and row.params["max_duration"] == 4
    assert row.params["voice_mute"] is not None
    assert row.params["voiceover"]["text"] == "Look at the red car."
    assert set(row.files.values_list("label", flat=True)) == {"main", "secondary_0"}
    job = _completed(api, started.json()["job_id"])
    [variant] = job["result"]["variants"]
    assert variant["variant_index"] == 1 and variant["variant_name"] == "multi reel"
    assert [i["duration"] for i in job["result"]["inserts"]] == [1.5]
    info = _video_of(variant["final_video"], tmp_path)
    assert info.duration == pytest.approx(4, abs=0.15) and info.has_audio


def test_get_jobs_lists_the_callers_jobs(api, user, other_user):
    mine = services.job_create(job_type="noop", owner=user)
    services.job_create(job_type="noop", owner=other_user)
    response = api.get(f"{BASE}/jobs")
    assert response.status_code == 200
    [item] = response.json()["jobs"]
    assert item["job_id"].startswith(str(mine.id))
    assert item["status"] == "pending" and item["progress"] == "0% – Queued"
    # The poll of the id the page was given points at v1's job, by its plain id.
    polled = api.get(f"{BASE}/jobs/{item['job_id']}")
    assert item["job_id"] != str(mine.id)  # signed: <uuid>.<expiry>.<signature>
    assert polled["Link"] == f'</api/v1/jobs/{mine.id}>; rel="successor-version"'


def test_get_job_status_words_and_texts(api, user, other_user):
    job = services.job_create(job_type="noop", owner=user)
    url = f"{BASE}/jobs/{job.id}"
    assert api.get(url).json()["status"] == "pending"
    Job.objects.filter(id=job.id).update(
        status=JobStatus.PROCESSING, progress=45, stage="audio", stage_label="Extracting audio"
    )
    polled = api.get(url).json()
    assert polled["status"] == "processing"
    assert polled["progress"] == "45% – Extracting audio" and polled["result"] is None
    Job.objects.filter(id=job.id).update(status=JobStatus.QUEUED, attempts=1)  # retry wait
    assert api.get(url).json()["status"] == "processing"
    Job.objects.filter(id=job.id).update(status=JobStatus.CANCELLED, error="")
    cancelled = api.get(url).json()
    assert cancelled["status"] == "failed" and "cancelled" in cancelled["error"]
    Job.objects.filter(id=job.id).update(status=JobStatus.FAILED, error="ffmpeg crashed")
    assert api.get(url).json()["error"] == "ffmpeg crashed"
    theirs = services.job_create(job_type="noop", owner=other_user)
    for missing in (f"{BASE}/jobs/{theirs.id}", f"{BASE}/jobs/not-a-job"):
        response = api.get(missing)
        assert response.status_code == 404 and isinstance(response.json()["detail"], str)


def test_download_serves_the_main_output_without_a_header(api, varied_video, tmp_path):
    started = api.post(f"{BASE}/jobs", job_form(varied_video, target_duration="3"))
    job_id = started.json()["job_id"]
    assert Client().get(f"{BASE}/jobs/{job_id}/download").status_code == 409  # not ready
    _completed(api, job_id)
    url = f"{BASE}/jobs/{job_id}/download"
    whole = Client().get(url)
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    assert whole["Content-Disposition"].startswith("attachment")
    part = Client().get(url, HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and len(body_of(part)) == 100
    tampered = job_id[:-2] + ("AA" if not job_id.endswith("AA") else "BB")
    assert Client().get(f"{BASE}/jobs/{tampered}/download").status_code == 422
    plain = job_id.split(".")[0]  # an unsigned id is no permission
    assert Client().get(f"{BASE}/jobs/{plain}/download").status_code == 422


@pytest.mark.usefixtures("offline_voice")
def test_tts_add_to_videos(api, varied_video, tmp_path):
    started = api.post(f"{BASE}/jobs", job_form(varied_video, target_duration="3"))
    variants = _completed(api, started.json()["job_id"])["result"]["variants"]
    form = {
        "video_paths": json.dumps([v["final_video"] for v in variants]),
        "tts_text": "Three tips for you.",
        "output_suffix": "_with_tts",
    }
    response = api.post(f"{BASE}/tts/add-to-videos", form)
    assert response.status_code == 202, response.content
    row = Job.objects.get(job_type="add_tts")
    assert row.params["speech"]["text"] == "Three tips for you."
    assert row.params["output_suffix"] == "_with_tts"
    job = _completed(api, response.json()["job_id"])
    processed = job["result"]["processed_videos"]
    assert [p["status"] for p in processed] == ["success"]
    assert processed[0]["original"] is not None
    info = _video_of(processed[0]["with_tts"], tmp_path)
    assert info.has_audio and row.files.get(label="video_0", role="output").name.endswith(
        "video_0_with_tts.mp4"
    )
