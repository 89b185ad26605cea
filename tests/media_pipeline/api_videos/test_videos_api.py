"""POST /library/videos/*: each endpoint creates its job with the right params and inputs, from an
upload or a library source video, and refuses bad requests with a 4xx before any job exists."""

import pytest
from django.core.files.storage import default_storage

from jobs.models import Job, JobFile
from jobs.status import JobStatus
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_videos.helpers import (
    created_job,
    error,
    fields,
    job_inputs,
    post,
    source_video,
)

# endpoint -> (job type, params sent, expected subset of the stored params, a bad params dict
# with the field path its 422 names). The info endpoint takes no params.
SINGLE = {
    "/videos/info": ("probe", None, {}, None),
    "/videos/detect-voice": (
        "detect_voice",
        {"threshold": 0.7, "padding_ms": 50},
        {"threshold": 0.7, "padding_ms": 50, "min_speech_ms": 250},
        ({"threshold": 2}, "params.threshold"),
    ),
    "/videos/mute-voice": (
        "mute_voice",
        {"keep_percentage": 5},
        {"keep_percentage": 5, "threshold": 0.5},
        ({"keep_percentage": -1}, "params.keep_percentage"),
    ),
    "/videos/analyze": (
        "analyze",
        {"target_duration": 1.5, "provider": "local"},
        {"target_duration": 1.5, "provider": "local", "fallback_to_local": False},
        ({"thresholds": {"dark": "very"}}, "params.thresholds.dark"),
    ),
    "/videos/process": (
        "process",
        {"variant_count": 2, "target_duration": 2},
        {"variant_count": 2, "target_duration": 2, "replace_audio": False},
        ({"variant_count": 11}, "params.variant_count"),
    ),
}
WITH_PARAMS = [e for e, spec in SINGLE.items() if spec[3]]
ALL = [*SINGLE, "/videos/multi"]
SRT = "1\n00:00:00,000 --> 00:00:01,000\nLook at the red car\n"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(SINGLE))
def test_upload_creates_the_job_with_params_and_the_upload(api, user, media, endpoint, hook_url):
    job_type, params, expected, _ = SINGLE[endpoint]
    video = media.video(seconds=1)
    response = post(api, endpoint, params=params, files={"file": video}, callback_url=hook_url)
    job = created_job(response)
    assert (job.job_type, job.owner, job.status) == (job_type, user, JobStatus.QUEUED)
    assert expected.items() <= job.params.items()
    assert job.callback_url == hook_url
    role, name, size = job_inputs(job)["source"]
    assert role == JobFile.Role.INPUT and size == video.stat().st_size
    assert default_storage.open(name).read() == video.read_bytes()


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(SINGLE))
def test_source_video_id_is_a_shared_input_read_in_place(api, user, media, endpoint):
    job_type, params, expected, _ = SINGLE[endpoint]
    row = source_video(user, media.video(seconds=1))
    job = created_job(post(api, endpoint, params=params, source_video_id=row.id))
    assert job.job_type == job_type and expected.items() <= job.params.items()
    assert job_inputs(job) == {"source": (JobFile.Role.SHARED, row.file.name, row.size)}
    assert job.callback_url == ""


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ALL)
def test_neither_or_both_inputs_is_422(api, user, media, endpoint):
    row = source_video(user, media.video(seconds=1))
    extra = _multi_extra(media) if endpoint == "/videos/multi" else {}
    neither = post(api, endpoint, **extra)
    files = {"file": media.video(seconds=1), **extra.pop("files", {})}
    both = post(api, endpoint, files=files, source_video_id=row.id, **extra)
    for response in (neither, both):
        assert response.status_code == 422, response.content
        assert {"file", "source_video_id"} <= fields(response)
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ALL)
def test_another_users_source_video_is_404(api, other_user, media, endpoint):
    row = source_video(other_user, media.video(seconds=1))
    extra = _multi_extra(media) if endpoint == "/videos/multi" else {}
    response = post(api, endpoint, source_video_id=row.id, **extra)
    assert response.status_code == 404 and error(response)["code"] == "not_found"
    assert post(api, endpoint, source_video_id=10**9, **extra).status_code == 404
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ALL)
@pytest.mark.parametrize(("maker", "status"), [("text_file", 415), ("empty_file", 422)])
def test_text_or_empty_upload_is_refused(api, media, endpoint, maker, status):
    extra = _multi_extra(media) if endpoint == "/videos/multi" else {}
    files = {"file": getattr(media, maker)(), **extra.pop("files", {})}
    response = post(api, endpoint, files=files, **extra)
    assert response.status_code == status, response.content
    assert "file" in fields(response)
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", WITH_PARAMS)
def test_bad_params_are_422_with_the_field_path(api, media, endpoint):
    bad, path = SINGLE[endpoint][3]
    response = post(api, endpoint, params=bad, files={"file": media.video(seconds=1)})
    assert response.status_code == 422
    assert path in fields(response)
    not_json = post(api, endpoint, files={"file": media.video(seconds=1)}, params="{oops")
    not_object = post(api, endpoint, files={"file": media.video(seconds=1)}, params="[1]")
    unknown = post(api, endpoint, params={"nope": 1}, files={"file": media.video(seconds=1)})
    for response in (not_json, not_object):
        assert response.status_code == 422 and fields(response) == {"params"}
    assert unknown.status_code == 422 and "params.nope" in fields(unknown)
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ALL)
def test_bad_callback_url_and_non_integer_id_are_422(api, user, media, endpoint):
    row = source_video(user, media.video(seconds=1))
    extra = _multi_extra(media) if endpoint == "/videos/multi" else {}
    for url in ("file:///etc/x", "http://127.0.0.1:8000/admin/"):  # not http(s); loopback
        bad_url = post(api, endpoint, source_video_id=row.id, callback_url=url, **extra)
        assert bad_url.status_code == 422 and fields(bad_url) == {"callback_url"}
    not_int = post(api, endpoint, source_video_id="abc", **extra)
    assert not_int.status_code == 422 and "source_video_id" in fields(not_int)
    assert Job.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ALL)
def test_no_credentials_is_401(client, media, endpoint):
    response = post(client, endpoint, files={"file": media.video(seconds=1)})
    assert response.status_code == 401 and error(response)["code"] == "unauthenticated"
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_analyze_and_process_need_a_video_stream(api, media):
    for endpoint in ("/videos/analyze", "/videos/process"):
        response = post(api, endpoint, files={"file": media.audio(seconds=1)})
        assert response.status_code == 422 and "video stream" in error(response)["message"]
    # voice endpoints accept audio-only files
    created_job(post(api, "/videos/detect-voice", files={"file": media.audio(seconds=1)}))


# --- process: the optional soundtrack -----------------------------------------------------------


@pytest.mark.django_db
def test_process_with_an_audio_upload_replaces_the_soundtrack(api, user, media):
    row = source_video(user, media.video(seconds=1))
    tone = media.audio(seconds=1)
    job = created_job(
        post(api, "/videos/process", source_video_id=row.id, files={"audio": tone}, params={})
    )
    assert job.params["replace_audio"] is True
    inputs = job_inputs(job)
    assert inputs["source"][:2] == (JobFile.Role.SHARED, row.file.name)
    assert inputs["audio"][0] == JobFile.Role.INPUT and inputs["audio"][2] == tone.stat().st_size


@pytest.mark.django_db
def test_process_audio_mismatches_are_4xx(api, user, media):
    row = source_video(user, media.video(seconds=1))
    no_audio = post(api, "/videos/process", source_video_id=row.id, params={"replace_audio": True})
    assert no_audio.status_code == 422 and "audio" in fields(no_audio)
    contradiction = post(
        api,
        "/videos/process",
        source_video_id=row.id,
        params={"replace_audio": False},
        files={"audio": media.audio()},
    )
    assert contradiction.status_code == 422 and "params.replace_audio" in fields(contradiction)
    text = post(api, "/videos/process", source_video_id=row.id, files={"audio": media.text_file()})
    assert text.status_code == 415 and "audio" in fields(text)
    silent = media.video(seconds=1, audio=False)
    mute = post(api, "/videos/process", source_video_id=row.id, files={"audio": silent})
    assert mute.status_code == 422 and "no audio stream" in error(mute)["message"]
    assert Job.objects.count() == 0


# --- multi: a main video and its secondaries ----------------------------------------------------


def _multi_extra(media) -> dict:
    """A valid rest of a multi request (two uploaded secondaries), for the shared checks."""
    return {
        "files": {"secondary_files": [media.video(seconds=1), media.video(seconds=1, fps=10)]},
        "params": {"srt": SRT, "keywords": [["red"], ["car"]]},
    }


@pytest.mark.django_db
def test_multi_with_uploads(api, user, media):
    main, a, b = media.video(seconds=2), media.video(seconds=1), media.video(seconds=1, fps=10)
    response = post(
        api,
        "/videos/multi",
        files={"file": main, "secondary_files": [a, b]},
        params={"srt": SRT, "keywords": [["red"], ["car"]], "match_threshold": 90},
    )
    job = created_job(response)
    assert job.job_type == "multi_video"
    assert job.params["keywords"] == [["red"], ["car"]] and job.params["match_threshold"] == 90
    inputs = job_inputs(job)
    assert {k: (v[0], v[2]) for k, v in inputs.items()} == {
        "main": (JobFile.Role.INPUT, main.stat().st_size),
        "secondary_0": (JobFile.Role.INPUT, a.stat().st_size),
        "secondary_1": (JobFile.Role.INPUT, b.stat().st_size),
    }
    assert default_storage.open(inputs["secondary_1"][1]).read() == b.read_bytes()


@pytest.mark.django_db
def test_multi_with_library_videos(api, user, media):
    main = source_video(user, media.video(seconds=2))
    second = source_video(user, media.video(seconds=1))
    response = post(
        api,
        "/videos/multi",
        source_video_id=main.id,
        secondary_source_video_ids=[second.id],
        params={"srt": SRT, "keywords": [["car"]]},
    )
    job = created_job(response)
    assert job_inputs(job) == {
        "main": (JobFile.Role.SHARED, main.file.name, main.size),
        "secondary_0": (JobFile.Role.SHARED, second.file.name, second.size),
    }


@pytest.mark.django_db
def test_multi_secondaries_are_checked(api, user, other_user, media):
    main = source_video(user, media.video(seconds=1))
    mine, theirs = (
        source_video(user, media.video(seconds=1)),
        source_video(other_user, media.video()),
    )
    srt = {"srt": SRT, "keywords": [["red"]]}

    def multi(**kwargs):
        return post(api, "/videos/multi", source_video_id=main.id, **kwargs)

    neither = multi(params=srt)
    both = multi(
        params=srt, secondary_source_video_ids=[mine.id], files={"secondary_files": [media.video()]}
    )
    for response in (neither, both):
        assert response.status_code == 422
        assert {"secondary_files", "secondary_source_video_ids"} <= fields(response)
    too_many = multi(
        params={"srt": SRT, "keywords": [["a"]] * 4}, secondary_source_video_ids=[mine.id] * 4
    )
    assert too_many.status_code == 422 and fields(too_many) == {"secondary_source_video_ids"}
    mismatch = multi(
        params={"srt": SRT, "keywords": [["a"], ["b"]]}, secondary_source_video_ids=[mine.id]
    )
    assert mismatch.status_code == 422 and fields(mismatch) == {"params.keywords"}
    no_srt = multi(params={"keywords": [["a"]]}, secondary_source_video_ids=[mine.id])
    assert no_srt.status_code == 422 and "params.srt" in fields(no_srt)
    bad_srt = multi(
        params={"srt": "garbage", "keywords": [["a"]]}, secondary_source_video_ids=[mine.id]
    )
    assert bad_srt.status_code == 422 and "params.srt" in fields(bad_srt)
    foreign = multi(params=srt, secondary_source_video_ids=[theirs.id])
    assert foreign.status_code == 404
    text = multi(params=srt, files={"secondary_files": [media.text_file()]})
    assert text.status_code == 415 and fields(text) == {"secondary_files.0"}
    assert Job.objects.count() == 0


# --- end to end through the real worker ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_info_of_a_library_video_runs_and_leaves_the_library_file(api, user, media):
    row = source_video(user, media.rotated(rotation=90))
    job = created_job(post(api, "/videos/info", source_video_id=row.id))
    run_burst_worker()
    result = api.get(f"/api/v1/jobs/{job.id}").json()
    assert result["status"] == "completed", result["error"]
    assert (result["result"]["width"], result["result"]["height"]) == (240, 320)
    api.delete(f"/api/v1/jobs/{job.id}")
    assert not Job.objects.filter(id=job.id).exists()
    assert default_storage.exists(row.file.name)  # the job never owned the library file


@pytest.mark.django_db(transaction=True)
def test_mute_voice_upload_runs_to_a_muted_output(api, media):
    video, _ = media.video_with_speech(lead=0.5, tail=0.5)
    job = created_job(
        post(api, "/videos/mute-voice", files={"file": video}, params={"keep_percentage": 0})
    )
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["status"] == "muted" and job.result["muted_intervals"]
    assert job.files.filter(label="muted").exists()


@pytest.mark.django_db(transaction=True)
def test_multi_runs_with_library_secondaries(api, user, media):
    main = source_video(user, media.video(seconds=2))
    second = source_video(user, media.video(seconds=1, fps=10, audio=False))
    job = created_job(
        post(
            api,
            "/videos/multi",
            source_video_id=main.id,
            secondary_source_video_ids=[second.id],
            params={"srt": SRT, "keywords": [["car"]]},
        )
    )
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert [i["keyword"] for i in job.result["inserts"]] == ["car"]
    assert job.files.filter(label="video").exists()
