"""Postiz publishing is not provided (contract 4.2, 4.3, 5.13): each call, sent as the pages send
it, answers 501 with a readable `detail` (the pages show it in their alert)."""

import pytest

from tests.frontend.library_fixtures import BASE, send_json

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/postiz/integrations", None),
        ("post", "/postiz/publish",
         {"clip_id": "1", "caption": "", "integration_ids": ["x"], "schedule_date": None}),
        ("post", "/postiz/bulk-publish",
         {"clip_ids": [], "caption": "", "integration_ids": ["x"],
          "schedule_date": "2026-12-01T10:30:00", "schedule_interval_minutes": 30}),
        ("post", "/postiz/upload", {"clip_id": "1", "video_path": "token"}),
    ],
)  # fmt: skip
def test_postiz_calls_answer_not_supported(api, method, path, body):
    response = api.get(BASE + path) if body is None else send_json(api, method, path, body)
    assert response.status_code == 501
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "Postiz publishing is not provided" in detail
    assert response.json()["error"]["code"] == "not_implemented"
    assert response["Deprecation"] == "true"
