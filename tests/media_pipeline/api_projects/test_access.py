"""Every project and clip endpoint: another user's object is a 404 (and stays untouched),
no credentials is a 401."""

import pytest
from django.test import Client

from jobs.models import Job
from media_pipeline.library.models import Clip, ClipContent, Project
from tests.media_pipeline.api_projects.conftest import API

pytestmark = pytest.mark.django_db

JSON, FORM = "json", "form"
# (method, path with {project}/{clip}/{source}/{segment}, body, body kind)
ENDPOINTS = [
    ("get", "/projects/{project}", None, None),
    ("patch", "/projects/{project}", {"name": "mine now"}, JSON),
    ("delete", "/projects/{project}", None, None),
    ("post", "/projects/{project}/generate", {"source_video_id": "{own_source}"}, FORM),
    (
        "post",
        "/projects/{project}/generate-from-segments",
        {"segment_ids": ["{own_segment}"]},
        JSON,
    ),
    ("post", "/projects/{project}/cancel", None, None),
    ("get", "/projects/{project}/progress", None, None),
    ("get", "/projects/{project}/clips", None, None),
    ("get", "/clips/{clip}", None, None),
    ("patch", "/clips/{clip}", {"is_selected": True}, JSON),
    ("delete", "/clips/{clip}", None, None),
    ("delete", "/clips/{clip}?permanent=true", None, None),
    ("post", "/clips/{clip}/restore", None, None),
    ("put", "/clips/{clip}/content", {"tts_text": "hijacked"}, JSON),
    ("post", "/clips/{clip}/content/copy-from/{own_clip}", None, None),
    ("post", "/clips/{own_clip}/content/copy-from/{clip}", None, None),
    ("post", "/clips/{clip}/remove-audio", None, None),
    ("get", "/clips/{clip}/file", None, None),
    ("get", "/clips/{clip}/thumbnail", None, None),
    ("post", "/clips/bulk-select", {"clip_ids": ["{clip}"], "selected": True}, JSON),
    ("post", "/projects/{own_project}/generate", {"source_video_id": "{source}"}, FORM),
    (
        "post",
        "/projects/{own_project}/generate-from-segments",
        {"segment_ids": ["{segment}"]},
        JSON,
    ),
]
IDS = [f"{m} {p}" for m, p, _, _ in ENDPOINTS]


@pytest.fixture
def world(user, other_user, make_project, make_clip, make_source, make_segment):
    """alice's objects (the victim) and bob's own ones (the caller)."""
    project = make_project(status=Project.Status.READY_FOR_TRIAGE)
    clip = make_clip(project, trashed=True)
    source = make_source()
    own_project = make_project(owner=other_user, name="bob's")
    own_source = make_source(owner=other_user)
    ids = {
        "project": project.id, "clip": clip.id, "source": source.id,
        "segment": make_segment(source, 0, 1).id, "own_project": own_project.id,
        "own_clip": make_clip(own_project).id, "own_source": own_source.id,
        "own_segment": make_segment(own_source, 0, 1).id,
    }  # fmt: skip
    return ids


def _fill(value, ids):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _call(client, method, path, body, kind, ids):
    url = API + path.format(**ids)
    if kind == JSON:
        return getattr(client, method)(url, _fill(body, ids), content_type="application/json")
    if kind == FORM:
        return getattr(client, method)(url, _fill(body, ids))
    return getattr(client, method)(url)


@pytest.mark.parametrize(("method", "path", "body", "kind"), ENDPOINTS, ids=IDS)
def test_another_users_objects_are_not_found(other_api, world, method, path, body, kind):
    response = _call(other_api, method, path, body, kind, world)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    clip = Clip.objects.get(id=world["clip"])
    assert (
        clip.in_trash
        and not clip.is_selected
        and not ClipContent.objects.filter(clip=clip).exists()
    )
    project = Project.objects.get(id=world["project"])
    assert (project.name, project.status) == ("Spring campaign", "ready_for_triage")
    assert Project.objects.get(id=world["own_project"]).status == "draft"
    assert Job.objects.count() == 0


@pytest.mark.parametrize(("method", "path", "body", "kind"), ENDPOINTS, ids=IDS)
def test_no_credentials_is_a_401(world, method, path, body, kind):
    response = _call(Client(), method, path, body, kind, world)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/projects"), ("post", "/projects"), ("get", "/clips")],
)
def test_collections_need_credentials(method, path):
    assert getattr(Client(), method)(API + path).status_code == 401


def test_lists_only_show_your_own(other_api, world):
    projects = other_api.get(f"{API}/projects").json()
    assert [p["id"] for p in projects["items"]] == [world["own_project"]]
    clips = other_api.get(f"{API}/clips?include_deleted=true").json()
    assert [c["id"] for c in clips["items"]] == [world["own_clip"]]
    assert other_api.get(f"{API}/clips?project={world['project']}").json()["total"] == 0


@pytest.mark.parametrize(("method", "path", "body", "kind"), ENDPOINTS, ids=IDS)
def test_the_owner_gets_past_the_lookup(api, world, make_clip, method, path, body, kind):
    """Control: the same calls by alice on her own objects are not 404s, so the 404s above
    come from ownership."""
    project = Project.objects.get(id=world["project"])
    mine = {
        **world, "own_project": project.id, "own_clip": make_clip(project, 2).id,
        "own_source": world["source"], "own_segment": world["segment"],
    }  # fmt: skip
    response = _call(api, method, path, body, kind, mine)
    assert response.status_code not in (401, 404), response.content
