"""Library page (`/library`) clip calls, sent exactly as the page sends them (contract 4.2, 5.7,
5.9, 5.10, M4-M6; 6.5, 6.11, 6.13, 6.18): read with content, rename, deselect, trash, content,
render and bulk render, export presets, and the media URLs built from the clip's tokens."""

import pytest

from jobs.models import Job
from media_pipeline.library.models import Clip, ClipContent, Export, ExportPreset, Project
from media_pipeline.library.projects import project_refresh_counts
from tests.conftest import run_burst_worker
from tests.frontend.library_fixtures import (  # noqa: F401 - fixtures
    BASE,
    body_of,
    media_url,
    offline_voice,
    send_json,
    shrunk_presets,
    stored_clip,
    thumbnail_jpeg,
)

pytestmark = pytest.mark.django_db(transaction=True)
STACK = "var(--font-montserrat), Montserrat, sans-serif"
SETTINGS = {
    "fontSize": 48,
    "fontFamily": STACK,
    "textColor": "#FFFFFF",
    "outlineColor": "#000000",
    "outlineWidth": 3,
    "positionY": 85,
}
SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello there.\n\n2\n00:00:01,000 --> 00:00:02,000\nBye."
CLIP_KEYS = {
    "id", "project_id", "variant_index", "variant_name", "raw_video_path", "thumbnail_path",
    "duration", "is_selected", "final_video_path", "final_status", "postiz_status",
}  # fmt: skip


@pytest.fixture
def project(user):
    return Project.objects.create(owner=user, name="Spring", status="ready_for_triage")


@pytest.fixture
def clip(project, media):
    return stored_clip(project, media.video(seconds=2), thumbnail=thumbnail_jpeg(media))


def test_get_clip_without_content_answers_null_content(api, clip):
    response = api.get(f"{BASE}/library/clips/{clip.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["content"] is None and CLIP_KEYS <= set(body["clip"])
    assert body["clip"]["id"] == str(clip.id) and body["clip"]["final_status"] == "pending"


def test_content_is_saved_and_answered_exactly_as_sent(api, clip):
    sent = {"tts_text": "Hello there.", "srt_content": SRT, "subtitle_settings": SETTINGS}
    response = send_json(api, "put", f"/library/clips/{clip.id}/content", sent)
    assert response.status_code == 200, response.content
    content = response.json()["content"]
    assert content["clip_id"] == str(clip.id) and content["tts_text"] == "Hello there."
    assert content["subtitle_settings"] == SETTINGS  # the CSS stack is kept as it was sent
    assert content["srt_content"].startswith("1\n00:00:00,000 --> 00:00:01,000\nHello there.")
    again = api.get(f"{BASE}/library/clips/{clip.id}").json()["content"]
    assert again == content  # what the editor loads back and re-sends
    # the page re-sends what it loaded: the same content again
    resent = send_json(
        api,
        "put",
        f"/library/clips/{clip.id}/content",
        {k: again[k] for k in ("tts_text", "srt_content", "subtitle_settings")},
    )
    assert resent.json()["content"] == content


def test_content_keeps_the_voice_chosen_through_v1(api, clip):
    ClipContent.objects.create(clip=clip, tts_text="old", tts_provider="offline", voice="en")
    sent = {"tts_text": "", "srt_content": "", "subtitle_settings": SETTINGS}
    assert send_json(api, "put", f"/library/clips/{clip.id}/content", sent).status_code == 200
    stored = ClipContent.objects.get(clip=clip)
    assert (stored.tts_text, stored.tts_provider, stored.voice) == ("", "offline", "en")


@pytest.mark.parametrize(
    "body, field",
    [
        (
            {"tts_text": "", "srt_content": "1\n00:00:02,000 --> 00:00:01,000\nNo.",
             "subtitle_settings": SETTINGS},
            "srt_content",
        ),
        (
            {"tts_text": "", "srt_content": "",
             "subtitle_settings": {**SETTINGS, "fontFamily": "url(x.ttf)"}},
            "subtitle_settings.fontFamily",
        ),
        (
            {"tts_text": "", "srt_content": "", "subtitle_settings": {**SETTINGS, "shadow": 2}},
            "subtitle_settings.shadow",
        ),
        ({"tts_text": "", "srt_content": "", "subtitle_settings": None, "x": 1}, "x"),
        ({"srt_content": "", "subtitle_settings": None}, "tts_text"),
    ],
)  # fmt: skip
def test_content_refusals_name_the_field(api, clip, body, field):
    response = send_json(api, "put", f"/library/clips/{clip.id}/content", body)
    assert response.status_code == 422, response.content
    assert f"'{field}'" in response.json()["detail"], response.json()
    assert not ClipContent.objects.exists()


def test_rename_and_unknown_fields(api, clip):
    renamed = send_json(api, "patch", f"/library/clips/{clip.id}", {"variant_name": "Best one"})
    assert renamed.status_code == 200 and renamed.json()["variant_name"] == "Best one"
    assert Clip.objects.get(id=clip.id).variant_name == "Best one"
    selected = send_json(api, "patch", f"/library/clips/{clip.id}", {"is_selected": True})
    assert selected.json()["is_selected"] is True
    assert Project.objects.get(id=clip.project_id).selected_count == 1
    unknown = send_json(api, "patch", f"/library/clips/{clip.id}", {"rating": 5})
    assert unknown.status_code == 422 and "'rating'" in unknown.json()["detail"]
    null = send_json(api, "patch", f"/library/clips/{clip.id}", {"variant_name": None})
    assert null.status_code == 422 and "'variant_name'" in null.json()["detail"]


def test_deselect_then_the_page_rereads_the_counts(api, clip):
    Clip.objects.filter(id=clip.id).update(is_selected=True)
    project_refresh_counts(project_id=clip.project_id)
    response = api.patch(f"{BASE}/library/clips/{clip.id}/select?selected=false")
    assert response.status_code == 200 and response.json()["is_selected"] is False
    project = api.get(f"{BASE}/library/projects/{clip.project_id}").json()
    assert project["selected_count"] == 0


def test_delete_trashes_the_clip_and_recomputes_the_counts(api, project, media):
    first = stored_clip(project, media.video(seconds=1), is_selected=True)
    stored_clip(project, media.video(seconds=1), index=2)
    assert api.delete(f"{BASE}/library/clips/{first.id}").status_code == 200
    after = api.get(f"{BASE}/library/projects/{project.id}").json()
    assert (after["variants_count"], after["selected_count"]) == (1, 0)  # 6.13
    listed = api.get(f"{BASE}/library/projects/{project.id}/clips").json()["clips"]
    assert [c["variant_index"] for c in listed] == [2]  # 6.18
    assert Clip.objects.get(id=first.id).in_trash  # restorable through v1


def test_export_presets_name_the_default(api):
    response = api.get(f"{BASE}/library/export-presets")
    assert response.status_code == 200
    presets = response.json()["presets"]
    defaults = [p["name"] for p in presets if p["is_default"]]
    assert defaults == ["instagram_reels"]
    assert {"tiktok", "youtube_shorts", "facebook_reels", "instagram_story"} <= {
        p["name"] for p in presets
    }
    reels = next(p for p in presets if p["name"] == "instagram_reels")
    assert set(reels) >= {"id", "display_name", "width", "height", "fps", "video_bitrate", "crf"}
    # an operator picks another default (admin action): the page then renders with it
    from media_pipeline.library.media import export_preset_set_default

    export_preset_set_default(preset=ExportPreset.objects.get(name="tiktok"))
    presets = api.get(f"{BASE}/library/export-presets").json()["presets"]
    assert [p["name"] for p in presets if p["is_default"]] == ["tiktok"]


@pytest.mark.usefixtures("offline_voice")
def test_render_then_the_clip_and_its_media_urls(api, user, clip):
    send_json(
        api,
        "put",
        f"/library/clips/{clip.id}/content",
        {"tts_text": "Hello there.", "srt_content": SRT, "subtitle_settings": SETTINGS},
    )
    response = api.post(
        f"{BASE}/library/clips/{clip.id}/render", {"preset_name": "instagram_reels"}
    )
    assert response.status_code == 202, response.content
    processing = api.get(f"{BASE}/library/clips/{clip.id}").json()["clip"]
    assert processing["final_status"] == "processing" and processing["final_video_path"] is None
    run_burst_worker()
    done = api.get(f"{BASE}/library/clips/{clip.id}").json()["clip"]
    assert done["final_status"] == "completed", Job.objects.get().error
    assert Project.objects.get(id=clip.project_id).exported_count == 1
    # M5: Play opens the final video inline, with Range
    play = api.get(media_url(done["final_video_path"], v=clip.id), HTTP_RANGE="bytes=0-99")
    assert play.status_code == 206 and play["Content-Type"] == "video/mp4"
    assert play["Content-Disposition"].startswith("inline") and len(body_of(play)) == 100
    # M6: Download is an attachment; the media URLs need no header
    from django.test import Client

    download = Client().get(media_url(done["final_video_path"], download="true", v=clip.id))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    export = Export.objects.get()
    assert body_of(download) == export.file.read()
    # M4: the thumbnail is a JPEG
    thumb = Client().get(media_url(done["thumbnail_path"], v=clip.id))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert body_of(thumb)[:2] == b"\xff\xd8"
    # the same token also opens under /files (the main page's route)
    assert Client().get(media_url(done["raw_video_path"], library=False)).status_code == 200
    result = Job.objects.get().result
    assert result["voiceover"]["provider"] == "offline" and result["subtitles"] is True


def test_media_urls_refuse_altered_or_foreign_tokens(api, clip):
    from django.test import Client

    token = api.get(f"{BASE}/library/clips/{clip.id}").json()["clip"]["raw_video_path"]
    browser = Client()
    assert browser.get(media_url(token)).status_code == 200
    altered = browser.get(media_url(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")))
    assert altered.status_code == 422 and isinstance(altered.json()["detail"], str)
    assert browser.get(media_url("../../etc/passwd")).status_code == 422
    clip.file.delete(save=True)
    assert browser.get(media_url(token)).status_code == 404


@pytest.mark.parametrize(
    "fields, field, status",
    [
        ({"preset_name": "vhs"}, "preset_name", 422),
        ({}, "preset_name", 422),
        ({"preset_name": "tiktok", "quality": "high"}, "quality", 422),
    ],
)
def test_render_refusals_name_the_field(api, clip, fields, field, status):
    response = api.post(f"{BASE}/library/clips/{clip.id}/render", fields)
    assert response.status_code == status, response.content
    assert f"'{field}'" in response.json()["detail"]
    assert not Export.objects.exists()


def test_bulk_render_takes_the_object_body(api, project, media):
    clips = [stored_clip(project, media.video(seconds=1), index=n) for n in (1, 2)]
    ids = [str(c.id) for c in clips]
    response = send_json(
        api, "post", "/library/clips/bulk-render", {"clip_ids": ids, "preset_name": "tiktok"}
    )
    assert response.status_code == 202, response.content
    assert [r["clip_id"] for r in response.json()["renders"]] == ids
    assert {e.preset.name for e in Export.objects.all()} == {"tiktok"}
    missing = send_json(
        api, "post", "/library/clips/bulk-render", {"clip_ids": ["999999"], "preset_name": "tiktok"}
    )
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    assert Export.objects.count() == 2


def test_another_users_clip_is_a_404(other_api, clip):
    for method, path, body in [
        ("get", f"/library/clips/{clip.id}", None),
        ("patch", f"/library/clips/{clip.id}", {"variant_name": "x"}),
        ("delete", f"/library/clips/{clip.id}", None),
        ("put", f"/library/clips/{clip.id}/content",
         {"tts_text": "", "srt_content": "", "subtitle_settings": None}),
    ]:  # fmt: skip
        assert send_json(other_api, method, path, body).status_code == 404, path
    assert (
        other_api.patch(f"{BASE}/library/clips/{clip.id}/select?selected=false").status_code == 404
    )
    render = other_api.post(f"{BASE}/library/clips/{clip.id}/render", {"preset_name": "tiktok"})
    assert render.status_code == 404 and not Export.objects.exists()
