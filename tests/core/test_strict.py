"""No silent drops (core.strict): a field an operation does not declare is a 422 naming it, on
every operation of both APIs, for query parameters, form fields, files and top-level JSON keys;
nested JSON keys are refused by the input schemas; ninja's own 422 says what is wrong."""

import json
from typing import get_args

import pydantic
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core import strict
from editfactory.api import api as v1_api
from jobs.models import Job
from media_pipeline.frontend.api import frontend_api
from media_pipeline.library.models import Project

pytestmark = pytest.mark.django_db
STRICT = "/api/strict"
strict_urls = pytest.mark.urls("tests.core.strict_urls")


def _error(response, status=422):
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"] == body["error"]["message"]
    return body


def _post_json(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _file(name="a.txt"):
    return SimpleUploadedFile(name, b"hello", content_type="text/plain")


@pytest.mark.parametrize("strict_api", [v1_api, frontend_api], ids=["v1", "frontend"])
def test_every_operation_of_both_apis_is_checked(strict_api):
    operations = [
        op
        for bound in strict_api._get_bound_routers()
        for view in bound.path_operations.values()
        for op in view.operations
    ]
    # the check is attached to every route ninja binds, those added after assembly too
    assert (strict._install, "view") in strict_api.default_router._decorators
    assert all(hasattr(op, "accepted_fields") for op in operations)
    if strict_api is v1_api:
        assert len(operations) > 50


@strict_urls
def test_query_parameters(client):
    ok = client.get(f"{STRICT}/r/items", {"status": "new", "limit": 3, "q": "x"})
    assert ok.json() == {"status": "new", "limit": 3, "q": "x"}
    body = _error(client.get(f"{STRICT}/r/items", {"stauts": "new"}))
    assert body["detail"] == "Unknown field 'stauts' (this endpoint takes: status, limit, q)"
    assert body["error"]["details"] == [
        {"loc": ["query", "stauts"], "field": "stauts", "msg": "unknown field"}
    ]
    two = _error(client.get(f"{STRICT}/r/items?a=1&b=2&a=3"))
    assert two["detail"].startswith("Unknown fields 'a', 'b' (")


@strict_urls
def test_a_route_added_after_the_api_was_made_strict_is_checked(client):
    assert client.get(f"{STRICT}/late", {"x": 2}).json() == {"x": 2}
    assert _error(client.get(f"{STRICT}/late", {"y": 2}))["detail"] == (
        "Unknown field 'y' (this endpoint takes: x)"
    )


@strict_urls
def test_json_body_top_level_keys_and_nested_keys(client):
    assert (
        _post_json(client, f"{STRICT}/r/items", {"name": "a", "inner": {"a": 1}}).status_code == 200
    )
    body = _error(_post_json(client, f"{STRICT}/r/items", {"name": "a", "colour": "red"}))
    assert body["detail"] == "Unknown field 'colour' (this endpoint takes: inner, name, tags)"
    assert body["error"]["details"][0]["loc"] == ["body", "payload", "colour"]
    nested = _error(
        _post_json(client, f"{STRICT}/r/items", {"name": "a", "inner": {"a": 1, "b": 2}})
    )
    assert nested["detail"] == "'inner.b': Extra inputs are not permitted"
    assert nested["error"]["details"][0]["loc"] == ["body", "payload", "inner", "b"]


@strict_urls
def test_several_json_body_parameters_are_top_level_keys(client):
    url = f"{STRICT}/r/two-bodies"
    assert _post_json(client, url, {"first": {"a": 1}, "second": {"a": 2}}).json() == {"sum": 3}
    body = _error(_post_json(client, url, {"first": {"a": 1}, "second": {"a": 2}, "third": 3}))
    assert body["detail"] == "Unknown field 'third' (this endpoint takes: first, second)"
    assert body["error"]["details"][0]["loc"] == ["body", "third"]


@strict_urls
def test_an_operation_that_takes_nothing_refuses_any_field(client):
    url = f"{STRICT}/r/nothing"
    assert client.post(url).json() == {"ok": True}
    assert _post_json(client, url, {}).status_code == 200
    assert _error(_post_json(client, url, {"x": 1}))["detail"] == (
        "Unknown field 'x' (this endpoint takes no fields)"
    )
    assert "'q'" in _error(client.post(f"{url}?q=1"))["detail"]
    assert "'f'" in _error(client.post(url, {"f": "1"}))["detail"]  # multipart


@strict_urls
def test_a_free_form_json_body_is_not_checked(client):
    assert _post_json(client, f"{STRICT}/r/anything", {"any": 1}).json() == {"any": 1}


@strict_urls
def test_form_fields_and_files(client):
    url = f"{STRICT}/r/upload"
    # a repeated field (a list) and several files under one name are fine
    ok = client.post(url, {"file": _file(), "extra": [_file("b"), _file("c")], "tags": ["x", "y"]})
    assert ok.json() == {"file": "a.txt", "extra": 2, "name": None, "tags": ["x", "y"]}
    body = _error(client.post(url, {"file": _file(), "nmae": "n"}))
    assert body["detail"] == "Unknown field 'nmae' (this endpoint takes: name, tags, file, extra)"
    assert body["error"]["details"][0]["loc"] == ["form", "nmae"]
    upload = _error(client.post(url, {"file": _file(), "video": _file("v.mp4")}))
    assert upload["detail"].startswith("Unknown field 'video' (")
    assert upload["error"]["details"][0]["loc"] == ["file", "video"]
    urlencoded = client.post(url, "name=a&x=1", content_type="application/x-www-form-urlencoded")
    assert "'x'" in _error(urlencoded)["detail"]


@strict_urls
def test_json_sent_to_a_form_endpoint_is_refused_not_ignored(client):
    body = _error(_post_json(client, f"{STRICT}/r/upload", {"name": "a"}))
    assert body["detail"].startswith("Unknown field 'name' (")
    assert body["detail"].endswith("send them as form fields (multipart/form-data), not as JSON")


@strict_urls
def test_multipart_json_parts_are_form_fields(client):
    url = f"{STRICT}/r/upload-with-json"
    meta = json.dumps({"name": "m"})
    assert client.post(url, {"meta": meta, "file": _file()}).json() == {
        "name": "m",
        "file": "a.txt",
    }
    assert "'metta'" in _error(client.post(url, {"metta": meta, "file": _file()}))["detail"]


@strict_urls
def test_authentication_comes_first(api):
    assert Client().get(f"{STRICT}/r/private", {"limitt": 1}).status_code == 401
    assert _error(api.get(f"{STRICT}/r/private", {"limitt": 1}))["detail"] == (
        "Unknown field 'limitt' (this endpoint takes: limit)"
    )


@strict_urls
def test_media_routes_take_download_and_ignore_the_cache_buster(client):
    url = f"{STRICT}/r/media/a"
    assert client.get(url, {"v": "12", "download": "true"}).json() == {
        "name": "a",
        "download": True,
    }
    assert client.get(url, {"v": "12"}).json()["download"] is False
    assert _error(client.get(url, {"foo": "1"}))["detail"] == (
        "Unknown field 'foo' (this endpoint takes: download)"
    )
    assert _error(client.get(url, {"download": "maybe"}))["error"]["details"][0]["field"] == (
        "download"
    )
    # elsewhere `v` is a field like any other
    assert "'v'" in _error(client.get(f"{STRICT}/r/items", {"v": "1"}))["detail"]


# --- the product's endpoints ---------------------------------------------------------------------


def test_v1_query_form_file_and_json_are_checked(api, media):
    body = _error(api.get("/api/v1/jobs", {"stauts": "failed"}))
    assert body["detail"].startswith("Unknown field 'stauts' (this endpoint takes: status, ")
    with media.video(seconds=1).open("rb") as fh:  # the prototype's field name: `video`
        upload = _error(api.post("/api/v1/library/videos/info", {"video": fh}))
    assert upload["detail"].startswith("Unknown field 'video' (this endpoint takes: ")
    assert not Job.objects.exists()
    project = _error(_post_json(api, "/api/v1/library/projects", {"name": "P", "budget": 3}))
    assert project["detail"].startswith("Unknown field 'budget' (")
    assert not Project.objects.exists()


def _models_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation)
    for arg in get_args(annotation):
        yield from _models_in(arg)


def test_every_v1_json_body_schema_forbids_unknown_keys_at_any_depth():
    bodies = {
        model
        for bound in v1_api._get_bound_routers()
        for view in bound.path_operations.values()
        for op in view.operations
        for params in op.models
        if params.__ninja_param_source__ == "body"
        for field in params.model_fields.values()
        for model in _models_in(field.annotation)
    }
    assert len(bodies) > 10
    lax = sorted(m.__name__ for m in bodies if m.model_config.get("extra") != "forbid")
    assert lax == []


def test_a_nested_unknown_key_is_named_with_its_path(api, user):
    project = Project.objects.create(owner=user, name="P")
    clip = project.clips.create(variant_index=1)
    url = f"/api/v1/library/clips/{clip.id}/content"
    body = {"srt": "", "subtitle_settings": {"fontSize": 40, "glow": True}}
    response = api.put(url, json.dumps(body), content_type="application/json")
    assert _error(response)["detail"] == "'subtitle_settings.glow': Extra inputs are not permitted"


def test_ninjas_own_422_says_what_is_wrong(api):
    body = _error(api.get("/api/v1/jobs", {"limit": "many"}))
    assert (
        body["detail"]
        == "'limit': Input should be a valid integer, unable to parse string as an integer"
    )
    assert body["error"]["details"][0]["loc"] == ["query", "limit"]
    missing = _error(_post_json(api, "/api/v1/library/projects", {"description": "d"}))
    assert missing["detail"] == "'name': Field required"
    several = _error(_post_json(api, "/api/v1/library/clips/bulk-select", {}))
    assert several["detail"] == "'clip_ids': Field required (and 1 more problem: see details)"
    assert len(several["error"]["details"]) == 2
