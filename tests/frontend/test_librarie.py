"""Librarie page (`/librarie`) calls through its shared helper, sent exactly as it sends them
(contract 4.3, 5.8, M7, M8; 6.1, 6.18, 6.20): every request carries
`Content-Type: application/json` and the user's token; remove-audio has an empty body."""

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.models import Clip, ClipContent, Project
from media_pipeline.library.projects import clip_trash
from media_pipeline.ops.probe import probe_media
from tests.frontend.library_fixtures import (  # noqa: F401 - fixtures
    BASE,
    body_of,
    media_url,
    send_json,
    shrunk_presets,
    stored_clip,
    thumbnail_jpeg,
)

pytestmark = pytest.mark.django_db(transaction=True)
JSON = {"CONTENT_TYPE": "application/json"}


def _all_clips(client):
    return client.get(f"{BASE}/library/all-clips", **JSON)


def test_all_clips_newest_first_with_project_names_and_flags(api, user, other_user, media):
    older = Project.objects.create(owner=user, name="Older Project")
    newer = Project.objects.create(owner=user, name="Newer")
    video = media.video(seconds=2)
    first = stored_clip(older, video, thumbnail=thumbnail_jpeg(media), has_audio=True)
    second = stored_clip(newer, video, has_audio=False)
    third = stored_clip(newer, video, index=2)
    gone = stored_clip(newer, video, index=3)
    clip_trash(clip=gone)
    stored_clip(Project.objects.create(owner=other_user, name="Theirs"), video)
    ClipContent.objects.create(clip=first, srt="1\n00:00:00,000 --> 00:00:01,000\nHi.\n")
    ClipContent.objects.create(clip=third, tts_text="A script.")
    response = _all_clips(api)
    assert response.status_code == 200
    clips = response.json()["clips"]
    assert [c["id"] for c in clips] == [str(third.id), str(second.id), str(first.id)]
    by_id = {c["id"]: c for c in clips}
    assert by_id[str(first.id)]["project_name"] == "Older Project"
    flags = {k: [by_id[str(c.id)][k] for c in (first, second, third)] for k in
             ("has_subtitles", "has_voiceover", "has_audio")}  # fmt: skip
    assert flags == {
        "has_subtitles": [True, False, False],
        "has_voiceover": [False, False, True],
        "has_audio": [True, False, None],  # None: not recorded, the button stays enabled
    }
    entry = by_id[str(first.id)]
    assert entry["postiz_status"] == "not_sent" and entry["final_video_path"] is None
    assert entry["duration"] == pytest.approx(2, abs=0.1) and entry["variant_index"] == 1
    # M7: Play (raw video, inline) and M8: Download (attachment), no header
    browser = Client()
    play = browser.get(media_url(entry["raw_video_path"], v=entry["id"]))
    assert play.status_code == 200 and play["Content-Disposition"].startswith("inline")
    download = browser.get(media_url(entry["raw_video_path"], download="true", v=entry["id"]))
    assert download["Content-Disposition"].startswith("attachment")
    assert body_of(download) == video.read_bytes()
    thumb = browser.get(media_url(entry["thumbnail_path"], v=entry["id"]))
    assert thumb["Content-Type"] == "image/jpeg"


def test_all_clips_without_a_token_is_401_so_the_page_goes_to_login():
    response = Client().get(f"{BASE}/library/all-clips", **JSON)
    assert response.status_code == 401 and isinstance(response.json()["detail"], str)


def test_rename_from_librarie(api, user, media):
    clip = stored_clip(Project.objects.create(owner=user, name="P"), media.video(seconds=1))
    response = send_json(api, "patch", f"/library/clips/{clip.id}", {"variant_name": "Hook A"})
    assert response.status_code == 200
    assert _all_clips(api).json()["clips"][0]["variant_name"] == "Hook A"


def test_remove_audio_answers_the_silent_file(api, user, media, worker_process, tmp_path):
    clip = stored_clip(
        Project.objects.create(owner=user, name="P"), media.video(seconds=2), has_audio=True
    )
    old_name = clip.file.name
    worker_process()
    response = api.post(
        f"{BASE}/library/clips/{clip.id}/remove-audio", "", content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert Job.objects.get(id=body["job_id"]).status == JobStatus.COMPLETED
    out = tmp_path / "silent.mp4"
    out.write_bytes(body_of(Client().get(media_url(body["video_path"]))))
    info = probe_media(out)
    assert not info.has_audio and info.duration == pytest.approx(2, abs=0.15)
    assert not default_storage.exists(old_name)
    entry = _all_clips(api).json()["clips"][0]
    assert entry["has_audio"] is False  # the button is disabled now ("Fără sunet")
    row = Clip.objects.get(id=clip.id)
    assert (row.file.name, row.has_audio) != (old_name, True)


def test_remove_audio_refusals_have_a_detail(api, other_api, user, media):
    clip = stored_clip(Project.objects.create(owner=user, name="P"), media.video(seconds=1))
    foreign = other_api.post(
        f"{BASE}/library/clips/{clip.id}/remove-audio", "", content_type="application/json"
    )
    assert foreign.status_code == 404
    clip_trash(clip=clip)
    trashed = api.post(
        f"{BASE}/library/clips/{clip.id}/remove-audio", "", content_type="application/json"
    )
    assert trashed.status_code == 409 and "trash" in trashed.json()["detail"]
    assert not Job.objects.exists()


def test_remove_audio_that_fails_says_why(api, user, media, worker_process):
    from django.core.files.base import ContentFile

    clip = stored_clip(Project.objects.create(owner=user, name="P"), media.video(seconds=1))
    clip.file.save("clip.mp4", ContentFile(b"not a video " * 100), save=True)
    worker_process()
    response = api.post(
        f"{BASE}/library/clips/{clip.id}/remove-audio", "", content_type="application/json"
    )
    assert response.status_code == 500, response.content
    assert response.json()["detail"].startswith("the audio could not be removed: ")
    assert Job.objects.get().status == JobStatus.FAILED


def test_remove_audio_still_running_names_the_job(api, user, media, settings):
    settings.FRONTEND_SYNC_WAIT = 0.5  # no worker: the job cannot end in time
    clip = stored_clip(Project.objects.create(owner=user, name="P"), media.video(seconds=1))
    response = api.post(
        f"{BASE}/library/clips/{clip.id}/remove-audio", "", content_type="application/json"
    )
    assert response.status_code == 504
    job = Job.objects.get()
    assert str(job.id) in response.json()["detail"]
