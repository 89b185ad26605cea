"""The main page's requests that cannot be honoured are 422s whose `detail` string names the form
field (the page shows `detail`): nothing is dropped, nothing replaced by a default, no job
started."""

import json

import pytest

from core.media_urls import media_token
from jobs import services
from jobs.models import Job, JobFile
from tests.frontend import main_fixtures
from tests.frontend.library_fixtures import BASE
from tests.frontend.main_fixtures import SUBTITLE_SETTINGS, job_form, multi_form, srt_blob, upload

pytestmark = pytest.mark.django_db(transaction=True)
varied_video = main_fixtures.varied_video


def _refused(response, *words: str) -> str:
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail, detail
    assert not Job.objects.exists()
    return detail


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"target_duration": "NaN"}, ["'target_duration'", "'NaN'"]),
        ({"target_duration": "Infinity"}, ["'target_duration'"]),
        ({"target_duration": "twenty"}, ["'target_duration'"]),
        ({"target_duration": "1"}, ["'target_duration'"]),
        ({"variant_count": "11"}, ["'variant_count'"]),
        ({"variant_count": "2.5"}, ["'variant_count'"]),
        ({"generate_audio": "yes"}, ["'generate_audio'"]),
        ({"mute_source_voice": ""}, ["'mute_source_voice'"]),
        ({"output_name": "../../etc/passwd"}, ["'output_name'"]),
        ({"subtitle_settings": "{not json"}, ["'subtitle_settings'"]),
        ({"subtitle_settings": "[1, 2]"}, ["'subtitle_settings'"]),
        ({"colour": "red"}, ["Unknown field 'colour'"]),
        ({"srt": srt_blob("this is not an SRT file")}, ["'srt'"]),
        ({"generate_audio": "true", "script_text": "Word. " * 1200}, ["'script_text'", "5,000"]),
    ],
)
def test_post_jobs_refuses_what_it_cannot_honour(api, media, fields, words):
    _refused(api.post(f"{BASE}/jobs", job_form(media.video(seconds=2), **fields)), *words)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"position": "top"}, ["'subtitle_settings.position'"]),
        ({"marginV": "80px"}, ["'subtitle_settings.marginV'"]),
        ({"fontFamily": "Arial; DROP"}, ["subtitle_settings.fontFamily"]),
        ({"textColor": "white"}, ["subtitle_settings.textColor"]),
        ({"shadow": 2}, ["subtitle_settings.shadow"]),
        ({"positionY": 150}, ["subtitle_settings.positionY"]),
    ],
)
def test_subtitle_settings_are_checked_setting_by_setting(api, media, change, words):
    settings = json.dumps({**SUBTITLE_SETTINGS, **change})
    form = job_form(media.video(seconds=2), subtitle_settings=settings)
    _refused(api.post(f"{BASE}/jobs", form), *words)


def test_an_audio_track_is_never_left_unused(api, media):
    form = job_form(
        media.video(seconds=2),
        audio=upload(media.audio(), "voice.m4a", "audio/mp4"),
        generate_audio="false",
    )
    _refused(api.post(f"{BASE}/jobs", form), "'audio'", "generate_audio")


def test_a_required_field_left_out_is_named(api, media):
    form = job_form(media.video(seconds=2))
    del form["variant_count"]
    _refused(api.post(f"{BASE}/jobs", form), "variant_count")


@pytest.mark.parametrize(
    ("slots", "fields", "words"),
    [
        ({2: True}, {"variant_count": "3"}, ["'variant_count'"]),
        ({2: True}, {"context_text": "perfume"}, ["'context_text'"]),
        ({2: True}, {"secondary_segment_duration": "9"}, ["'secondary_segment_duration'"]),
        ({2: True}, {"secondary_segment_duration": "NaN"}, ["'secondary_segment_duration'"]),
        ({2: True}, {"secondary_keywords_3": "car"}, ["'secondary_keywords_3'"]),
        ({2: True}, {"secondary_keywords_4": "car"}, ["Unknown field 'secondary_keywords_4'"]),
        ({}, {}, ["secondary video"]),
    ],
)
def test_post_multi_video_refuses_what_it_cannot_honour(api, media, slots, fields, words):
    secondary = media.video(seconds=2, size="160x120")
    chosen = {n: (secondary, "car") for n in slots}
    form = multi_form(media.video(seconds=2), chosen, **fields)
    _refused(api.post(f"{BASE}/jobs/multi-video", form), *words)


def test_a_secondary_video_without_keywords_is_refused(api, media):
    form = multi_form(media.video(seconds=2), {1: (media.video(seconds=2), "car")})
    form["secondary_video_2"] = upload(media.video(seconds=2, size="160x120"))
    _refused(api.post(f"{BASE}/jobs/multi-video", form), "'secondary_keywords_2'")


@pytest.fixture
def outputs(user):
    """A job of the user's with a video and a thumbnail output (rows only: the check is on
    what the token names, before any file is read)."""
    job = services.job_create(job_type="noop", owner=user)
    video = JobFile.objects.create(
        job=job, name=f"jobs/{job.id}/output/v.mp4", role="output", content_type="video/mp4"
    )
    thumb = JobFile.objects.create(
        job=job, name=f"jobs/{job.id}/output/t.jpg", role="output", content_type="image/jpeg"
    )
    return video, thumb


def _tts_form(paths) -> dict:
    raw = paths if isinstance(paths, str) else json.dumps(paths)
    return {"video_paths": raw, "tts_text": "Hello.", "output_suffix": "_with_tts"}


def test_add_to_videos_takes_only_valid_tokens_of_the_callers_videos(
    api, user, other_user, outputs
):
    video, thumb = outputs
    good = media_token(video.name, owner_id=user.pk)
    cases = [
        ("not json", "'video_paths'"),
        ([], "'video_paths'"),
        ([good, 3], "'video_paths'"),
        ([good[:-3] + "abc"], "'video_paths[0]'"),  # tampered
        ([good, media_token(video.name, owner_id=other_user.pk)], "'video_paths[1]'"),
        ([media_token(thumb.name, owner_id=user.pk)], "'video_paths[0]'"),  # not a video
        ([media_token("jobs/elsewhere/output/x.mp4", owner_id=user.pk)], "'video_paths[0]'"),
        (["C:\\\\output\\\\reel_v1.mp4"], "'video_paths[0]'"),  # a server path
        ([media_token(video.name, owner_id=user.pk, ttl=-100)], "expired"),
    ]
    for paths, word in cases:
        response = api.post(f"{BASE}/tts/add-to-videos", _tts_form(paths))
        assert response.status_code == 422, (paths, response.content)
        assert word in response.json()["detail"], (paths, response.json())
    blank = dict(_tts_form([good]), tts_text="   ")
    assert "'tts_text'" in api.post(f"{BASE}/tts/add-to-videos", blank).json()["detail"]
    suffix = dict(_tts_form([good]), output_suffix="/../x")
    assert "'output_suffix'" in api.post(f"{BASE}/tts/add-to-videos", suffix).json()["detail"]
    assert not Job.objects.filter(job_type="add_tts").exists()
