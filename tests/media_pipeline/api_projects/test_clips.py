"""Clips: listing and filters, triage (select, counts), trash/restore/permanent delete, content
validation and copying, file streaming, and the 409s of a trashed clip."""

import pytest
from django.core.files.storage import default_storage

from jobs.models import Job
from media_pipeline.library.models import Clip, ClipContent, Project
from tests.media_pipeline.api_projects.conftest import API

pytestmark = pytest.mark.django_db

GOOD_SRT = "1\r\n00:00:00,000 --> 00:00:01,500\r\nHello there\r\n\r\n2\r\n00:00:01,600 --> 00:00:03,000\r\nGeneral Kenobi\r\n"
BAD_SRT = "1\n00:00:00,000 --> 00:00:01,500\nHello\n\n2\n00:00:03,000 --> 00:00:02,000\nBackwards\n"


def _json(method, url, body):
    return method(url, body, content_type="application/json")


def _counts(project):
    project.refresh_from_db()
    return project.variants_count, project.selected_count


def test_project_clips_in_variant_order_with_the_trash_on_request(api, make_project, make_clip):
    project = make_project()
    second, first = make_clip(project, 2), make_clip(project, 1)
    trashed = make_clip(project, 3, trashed=True)
    body = api.get(f"{API}/projects/{project.id}/clips").json()
    assert body["total"] == 2 and [c["id"] for c in body["items"]] == [first.id, second.id]
    item = body["items"][0]
    # signed links (core.media_urls): the path, and a signature that opens it without a header
    assert item["file_url"].startswith(f"{API}/clips/{first.id}/file?sig=")
    assert item["thumbnail_url"].startswith(f"{API}/clips/{first.id}/thumbnail?sig=")
    assert item["in_trash"] is False and item["content"] is None
    everything = api.get(f"{API}/projects/{project.id}/clips?include_deleted=true").json()
    assert [c["id"] for c in everything["items"]] == [first.id, second.id, trashed.id]


def test_all_clips_filtered_by_project_and_selection(api, make_project, make_clip, other_user):
    one, two = make_project(name="one"), make_project(name="two")
    a = make_clip(one, 1, selected=True)
    make_clip(one, 2)
    b = make_clip(two, 1, selected=True)
    make_clip(two, 2, selected=True, trashed=True)
    make_clip(make_project(owner=other_user), 1, selected=True)
    ids = lambda query: [c["id"] for c in api.get(f"{API}/clips{query}").json()["items"]]  # noqa: E731
    assert len(ids("")) == 3  # the trashed one is left out
    assert set(ids("?selected=true")) == {a.id, b.id}
    assert set(ids(f"?project={one.id}&selected=true")) == {a.id}
    assert len(ids("?selected=true&include_deleted=true")) == 3
    assert ids(f"?project={one.id}&limit=1&offset=1") == [ids(f"?project={one.id}")[1]]


def test_patch_renames_and_selects_keeping_counts_true(api, make_project, make_clip):
    project = make_project()
    clip = make_clip(project)
    make_clip(project, 2)
    body = _json(
        api.patch, f"{API}/clips/{clip.id}", {"variant_name": "Hook first", "is_selected": True}
    ).json()
    assert (body["variant_name"], body["is_selected"]) == ("Hook first", True)
    assert _counts(project) == (2, 1)
    _json(api.patch, f"{API}/clips/{clip.id}", {"is_selected": False})
    assert _counts(project) == (2, 0)
    assert (
        _json(api.patch, f"{API}/clips/{clip.id}", {"variant_name": "x" * 101}).status_code == 422
    )


def test_trash_restore_and_permanent_delete(
    api, make_project, make_clip, django_capture_on_commit_callbacks
):
    project = make_project()
    clip = make_clip(project, selected=True)
    make_clip(project, 2)
    assert _counts(project) == (2, 1)

    body = api.delete(f"{API}/clips/{clip.id}").json()
    assert body["permanent"] is False and body["clip"]["in_trash"] is True
    assert _counts(project) == (1, 0)
    assert default_storage.exists(clip.file.name)  # the trash keeps the files
    assert api.delete(f"{API}/clips/{clip.id}").status_code == 200  # trashing again: no change

    restored = api.post(f"{API}/clips/{clip.id}/restore")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert _counts(project) == (2, 1)
    again = api.post(f"{API}/clips/{clip.id}/restore")
    assert again.status_code == 409 and "not in the trash" in again.json()["error"]["message"]

    files = (clip.file.name, clip.thumbnail.name)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the rows are gone
        body = api.delete(f"{API}/clips/{clip.id}?permanent=true").json()
    assert body == {"deleted": True, "permanent": True, "clip": None}
    assert not Clip.objects.filter(id=clip.id).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert _counts(project) == (1, 0)
    assert api.get(f"{API}/clips/{clip.id}").status_code == 404


def test_a_trashed_clip_cannot_be_changed(api, make_project, make_clip):
    project = make_project()
    clip = make_clip(project, trashed=True)
    source = make_clip(project, 2)
    attempts = [
        _json(api.patch, f"{API}/clips/{clip.id}", {"variant_name": "new"}),
        _json(api.put, f"{API}/clips/{clip.id}/content", {"tts_text": "hi"}),
        api.post(f"{API}/clips/{clip.id}/content/copy-from/{source.id}"),
        api.post(f"{API}/clips/{clip.id}/remove-audio"),
        _json(api.post, f"{API}/clips/bulk-select", {"clip_ids": [clip.id], "selected": True}),
    ]
    for response in attempts:
        assert response.status_code == 409, response.content
        assert "trash" in response.json()["error"]["message"]
    clip.refresh_from_db()
    assert clip.variant_name == "Variant 1" and not clip.is_selected
    assert not ClipContent.objects.exists() and Job.objects.count() == 0


def test_bulk_select_updates_counts_of_every_project(api, make_project, make_clip, other_user):
    one, two = make_project(name="one"), make_project(name="two")
    a, b, c = make_clip(one, 1), make_clip(one, 2), make_clip(two, 1)
    body = _json(
        api.post, f"{API}/clips/bulk-select", {"clip_ids": [a.id, b.id, c.id], "selected": True}
    ).json()
    assert body["updated"] == 3
    assert {p["id"]: p["selected_count"] for p in body["projects"]} == {one.id: 2, two.id: 1}
    _json(api.post, f"{API}/clips/bulk-select", {"clip_ids": [b.id], "selected": False})
    assert _counts(one) == (2, 1) and _counts(two) == (1, 1)

    foreign = make_clip(make_project(owner=other_user), 1)
    response = _json(
        api.post, f"{API}/clips/bulk-select", {"clip_ids": [a.id, foreign.id], "selected": False}
    )
    assert response.status_code == 404 and str(foreign.id) in response.json()["error"]["message"]
    assert Clip.objects.get(id=a.id).is_selected  # nothing changed
    assert (
        _json(api.post, f"{API}/clips/bulk-select", {"clip_ids": [], "selected": True}).status_code
        == 422
    )


def test_content_is_validated_stored_and_returned(api, make_project, make_clip):
    clip = make_clip(make_project())
    body = {
        "tts_text": "Buy these shoes.", "tts_provider": "edge", "voice": "en-US-AriaNeural",
        "srt": GOOD_SRT, "subtitle_settings": {"fontSize": 60, "textColor": "#FF0000"},
    }  # fmt: skip
    response = _json(api.put, f"{API}/clips/{clip.id}/content", body)
    assert response.status_code == 200, response.content
    content = api.get(f"{API}/clips/{clip.id}").json()["content"]
    assert content["tts_text"] == "Buy these shoes." and content["voice"] == "en-US-AriaNeural"
    assert content["srt"].startswith("1\n00:00:00,000 --> 00:00:01,500\nHello there")  # normalised
    assert content["subtitle_settings"]["fontSize"] == 60
    assert content["subtitle_settings"]["fontFamily"] == "Lato"  # defaults filled in
    # PUT replaces everything
    _json(api.put, f"{API}/clips/{clip.id}/content", {"tts_text": "Only text"})
    content = api.get(f"{API}/clips/{clip.id}").json()["content"]
    assert (content["tts_text"], content["srt"], content["subtitle_settings"]) == (
        "Only text",
        "",
        {},
    )


def test_invalid_srt_is_a_422_with_cue_level_errors(api, make_project, make_clip):
    clip = make_clip(make_project())
    response = _json(api.put, f"{API}/clips/{clip.id}/content", {"srt": BAD_SRT})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_srt"
    (finding,) = error["details"]["errors"]
    assert (finding["cue"], finding["code"], finding["line"]) == (2, "end_before_start", 6)
    assert not ClipContent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"subtitle_settings": {"fontSize": 2}},
        {"subtitle_settings": {"textColor": "red"}},
        {"subtitle_settings": {"unknown": 1}},
        {"tts_provider": "acme"},
        {"voice": "v" * 101},
    ],
)
def test_invalid_content_is_a_422(api, make_project, make_clip, body):
    clip = make_clip(make_project())
    response = _json(api.put, f"{API}/clips/{clip.id}/content", body)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    assert not ClipContent.objects.exists()


def test_tts_text_is_capped(api, make_project, make_clip, settings):
    settings.TTS_MAX_CHARS = 20
    clip = make_clip(make_project())
    response = _json(api.put, f"{API}/clips/{clip.id}/content", {"tts_text": "x" * 21})
    assert response.status_code == 422 and "limit is 20" in response.json()["error"]["message"]
    assert (
        _json(api.put, f"{API}/clips/{clip.id}/content", {"tts_text": "x" * 20}).status_code == 200
    )


def test_copy_content_from_another_clip(api, make_project, make_clip):
    source = make_clip(make_project(name="a"))
    target = make_clip(make_project(name="b"))
    _json(
        api.put,
        f"{API}/clips/{source.id}/content",
        {"tts_text": "Same words", "srt": GOOD_SRT, "voice": "v1"},
    )
    _json(
        api.put, f"{API}/clips/{target.id}/content", {"tts_text": "Old", "tts_provider": "offline"}
    )
    response = api.post(f"{API}/clips/{target.id}/content/copy-from/{source.id}")
    assert response.status_code == 200, response.content
    copied = response.json()["content"]
    original = api.get(f"{API}/clips/{source.id}").json()["content"]
    for field in ("tts_text", "tts_provider", "voice", "srt", "subtitle_settings"):
        assert copied[field] == original[field]
    # from a clip without content: the target's content is cleared
    empty = make_clip(make_project(name="c"))
    cleared = api.post(f"{API}/clips/{target.id}/content/copy-from/{empty.id}").json()["content"]
    assert (cleared["tts_text"], cleared["srt"]) == ("", "")


def test_clip_file_and_thumbnail_stream_with_range(api, make_project, make_clip):
    clip = make_clip(make_project(), data=bytes(range(200)))
    whole = api.get(f"{API}/clips/{clip.id}/file")
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == bytes(range(200))
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "video/mp4"
    part = api.get(f"{API}/clips/{clip.id}/file", HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and b"".join(part.streaming_content) == bytes(range(10, 20))
    assert api.get(f"{API}/clips/{clip.id}/file", HTTP_RANGE="bytes=500-").status_code == 416
    thumb = api.get(f"{API}/clips/{clip.id}/thumbnail")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


def test_a_clip_without_a_file(api, make_project):
    clip = Clip.objects.create(project=make_project(), variant_index=1)
    assert api.get(f"{API}/clips/{clip.id}").json()["file_url"] is None
    assert api.get(f"{API}/clips/{clip.id}/file").status_code == 404
    assert api.post(f"{API}/clips/{clip.id}/remove-audio").status_code == 409


def test_remove_audio_starts_a_job_on_the_clip_file(api, make_project, make_clip):
    clip = make_clip(make_project())
    response = api.post(f"{API}/clips/{clip.id}/remove-audio")
    assert response.status_code == 202
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.job_type == "clip_remove_audio" and job.params == {"clip_id": clip.id}
    assert job.files.get(label="source").name == clip.file.name
    again = api.post(f"{API}/clips/{clip.id}/remove-audio")
    assert again.status_code == 409 and "already" in again.json()["error"]["message"]
    assert Job.objects.count() == 1


def test_deleting_a_project_deletes_clip_files(
    api, make_project, make_clip, django_capture_on_commit_callbacks
):
    project = make_project(status=Project.Status.READY_FOR_TRIAGE)
    clips = [make_clip(project, 1), make_clip(project, 2, trashed=True)]
    names = [n for c in clips for n in (c.file.name, c.thumbnail.name)]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"{API}/projects/{project.id}").json()["clips_deleted"] == 2
    assert not Clip.objects.exists()
    assert not any(default_storage.exists(n) for n in names)
