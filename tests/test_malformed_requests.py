"""Malformed and oversized requests are 4xx JSON answers that say what is wrong, never a 500."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

MULTIPART = "/api/v1/library/videos/detect-voice"
JSON = "/api/v1/library/projects"


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["detail"] == body["error"]["message"]
    return body["detail"]


def test_params_nested_too_deeply(api):
    deep = "[" * 100_000 + "]" * 100_000
    response = api.post(MULTIPART, {"params": deep})
    assert "nested too deeply" in _error(response, 422)


def test_a_json_body_nested_too_deeply(api):
    deep = '{"name": "x", "description": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post(JSON, deep, content_type="application/json")
    assert response.status_code in (400, 422) and response.json()["detail"]


def test_a_json_body_over_the_in_memory_limit(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"name": "x", "description": "y" * 4096})
    response = api.post(JSON, body, content_type="application/json")
    assert "larger than 1024 bytes" in _error(response, 413)


def test_more_fields_than_allowed(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    response = api.post(MULTIPART, {f"f{i}": "1" for i in range(60)})
    assert "more than 50 fields" in _error(response, 413)


def test_more_files_than_allowed(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    files = {f"file{i}": SimpleUploadedFile(f"a{i}.txt", b"x") for i in range(8)}
    response = api.post(MULTIPART, files)
    assert "more than 5 files" in _error(response, 413)


def test_a_multipart_body_that_is_not_multipart(api):
    junk = b"x" * (1024 * 1024)  # no boundary anywhere: Django's parser gives up on its headers
    response = api.generic("POST", MULTIPART, junk, content_type="multipart/form-data; boundary=b")
    assert _error(response, 400) == (
        "The multipart body cannot be read: Request max total header size exceeded."
    )
