"""A NUL character (U+0000) in any text of a request is refused up front by core.strict: a 422
naming the field, the same answer on SQLite (which would store it) and PostgreSQL (which cannot:
it used to raise a DataError, answered "A number in the request is out of range" and later a
message made after the fact). CI runs this file on both databases."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job
from media_pipeline.library.models import Clip, ClipContent, Project, SourceVideo

pytestmark = pytest.mark.django_db

NUL = "\x00"
MESSAGE = "contains a NUL character (\\u0000), which text cannot hold"


def _refused(response, field: str, loc: list[str]) -> None:
    assert response.status_code == 422, response.content[:300]
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert body["detail"] == f"'{field}': {MESSAGE}"
    assert {"loc": loc, "field": field, "msg": MESSAGE} in body["error"]["details"]


def _post_json(client, url, body, method="post"):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_a_json_field(api):
    response = _post_json(api, "/api/v1/library/projects", {"name": f"Launch{NUL}teaser"})
    _refused(response, "name", ["body", "name"])
    assert not Project.objects.exists()


def test_a_nested_json_field_and_a_list_item(api, user):
    project = Project.objects.create(owner=user, name="P")
    clip = Clip.objects.create(project=project, variant_index=1)
    body = {"srt": "", "subtitle_settings": {"fontSize": 40, "fontFamily": f"Lato{NUL}"}}
    response = _post_json(api, f"/api/v1/library/clips/{clip.id}/content", body, method="put")
    _refused(response, "subtitle_settings.fontFamily", ["body", "subtitle_settings", "fontFamily"])
    assert not ClipContent.objects.filter(clip=clip).exclude(subtitle_settings={}).exists()
    response = _post_json(api, "/api/v1/library/clips/bulk-select", {"clip_ids": [f"1{NUL}"]})
    _refused(response, "clip_ids.0", ["body", "clip_ids", "0"])


def test_json_text_inside_a_form_field(api, media):
    params = json.dumps({"srt": f"1\n00:00:00,000 --> 00:00:01,000\nHi{NUL}\n"})
    with media.video(seconds=1).open("rb") as fh:
        response = api.post("/api/v1/library/videos/process", {"file": fh, "params": params})
    _refused(response, "params.srt", ["form", "params", "srt"])
    assert not Job.objects.exists()


def test_a_form_field(api, media):
    with media.video(seconds=1).open("rb") as fh:
        response = api.post("/api/v1/library/source-videos", {"file": fh, "name": f"a{NUL}b"})
    _refused(response, "name", ["form", "name"])
    assert not SourceVideo.objects.exists()


def test_a_file_name_loses_its_nul_on_the_way_in(api, media):
    """Django's multipart parser drops unprintable characters from file names."""
    with media.video(seconds=1).open("rb") as fh:
        upload = SimpleUploadedFile(f"clip{NUL}.mp4", fh.read(), content_type="video/mp4")
    response = api.post("/api/v1/library/source-videos", {"file": upload})
    assert response.status_code == 201, response.content
    video = SourceVideo.objects.get()
    assert video.name == "clip.mp4" and NUL not in video.file.name


def test_a_query_parameter_and_a_path_parameter(api):
    _refused(
        api.get("/api/v1/jobs", {"job_type": f"probe{NUL}"}), "job_type", ["query", "job_type"]
    )
    response = api.get(f"/api/frontend/v1/library/projects/1{NUL}")
    _refused(response, "project_id", ["path", "project_id"])


def test_a_key_holding_a_nul_is_named_readably(api):
    response = _post_json(api, "/api/v1/library/projects", {"name": "P", f"a{NUL}b": 1})
    _refused(response, "a\\u0000b", ["body", f"a{NUL}b"])


def test_several_are_counted_and_all_listed(api):
    response = _post_json(
        api, "/api/v1/library/projects", {"name": f"a{NUL}", "description": f"b{NUL}"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == f"'name': {MESSAGE} (and 1 more: see details)"
    assert [d["field"] for d in body["error"]["details"]] == ["name", "description"]


def test_other_control_characters_are_still_text(api):
    response = _post_json(api, "/api/v1/library/projects", {"name": "tab\there\x01"})
    assert response.status_code == 201, response.content
    assert Project.objects.get().name == "tab\there\x01"
