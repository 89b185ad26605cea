"""Library page (`/library`) project calls, sent exactly as the page sends them (contract 4.2,
5.5, 5.6; 6.3, 6.4, 6.6, 6.17): list, create, read, reset, delete, clips, progress, cancel,
generate from an upload or a path token, generate-from-segments' checks."""

import json

import pytest

from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.frontend.common import path_token
from media_pipeline.library.models import Clip, ClipContent, Project, SourceVideo
from media_pipeline.library.projects import clip_trash
from tests.conftest import run_burst_worker
from tests.frontend.library_fixtures import (  # noqa: F401 - fixtures
    BASE,
    send_json,
    shrunk_presets,
    stored_clip,
    stored_source,
    thumbnail_jpeg,
)

pytestmark = pytest.mark.django_db(transaction=True)
PROJECT_KEYS = {"id", "name", "status", "variants_count", "selected_count", "exported_count"}


def _create(api, **fields):
    body = {"name": "Spring launch ", "description": "", "target_duration": 20, "context_text": ""}
    response = send_json(api, "post", "/library/projects", {**body, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def test_create_answers_the_bare_project_and_the_list_has_it_first(api, user):
    first = _create(api, name="First")
    second = _create(api, name="Spring launch ", target_duration=35, context_text="cats")
    assert PROJECT_KEYS <= set(second) and isinstance(second["id"], str)
    assert (second["name"], second["status"], second["target_duration"]) == (
        "Spring launch ",
        "draft",
        35,
    )
    assert (second["variants_count"], second["selected_count"], second["exported_count"]) == (
        0,
        0,
        0,
    )
    listing = api.get(f"{BASE}/library/projects")
    assert listing.status_code == 200 and listing["Content-Type"].startswith("application/json")
    assert [p["id"] for p in listing.json()["projects"]] == [second["id"], first["id"]]
    assert api.get(f"{BASE}/library/projects/{first['id']}").json()["name"] == "First"
    assert listing["Deprecation"] == "true"
    assert listing["Link"] == '</api/v1/library/projects>; rel="successor-version"'


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "target_duration": 20, "colour": "red"}, "colour"),
        ({"name": "", "target_duration": 20}, "name"),
        ({"name": "x", "target_duration": 20.5}, "target_duration"),
    ],
)
def test_create_refuses_unknown_or_invalid_fields_naming_them(api, body, field):
    response = send_json(api, "post", "/library/projects", body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str) and f"'{field}'" in response.json()["detail"]
    assert not Project.objects.exists()


def test_another_users_project_is_a_404_and_no_token_is_a_401(api, other_api, client):
    project = _create(api)
    for method, path in [
        ("get", f"/library/projects/{project['id']}"),
        ("get", f"/library/projects/{project['id']}/clips"),
        ("get", f"/library/projects/{project['id']}/progress"),
        ("delete", f"/library/projects/{project['id']}"),
        ("post", f"/library/projects/{project['id']}/cancel"),
    ]:
        assert getattr(other_api, method)(BASE + path).status_code == 404, path
    assert api.get(f"{BASE}/library/projects/abc").status_code == 404
    client.defaults.pop("HTTP_AUTHORIZATION", None)
    from django.test import Client

    assert Client().get(f"{BASE}/library/projects").status_code == 401


def test_reset_to_draft_answers_the_bare_project(api, user, media):
    project = _create(api)
    row = Project.objects.get(id=project["id"])
    # a draft has nothing to reset
    refused = send_json(api, "patch", f"/library/projects/{project['id']}", {"status": "draft"})
    assert refused.status_code == 409 and isinstance(refused.json()["detail"], str)
    # a failed generation whose clips were all deleted: reset for a new one (6.3)
    row.status, row.error = Project.Status.FAILED, "the generation failed"
    row.save()
    clip = stored_clip(row, media.video(seconds=1))
    clip_trash(clip=clip)
    response = send_json(api, "patch", f"/library/projects/{project['id']}", {"status": "draft"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == project["id"] and body["status"] == "draft" and PROJECT_KEYS <= set(body)
    row.refresh_from_db()
    assert (row.status, row.error, row.current_job_id) == ("draft", "", None)


def test_reset_refuses_other_statuses_and_projects_with_clips(api, user, media):
    project = _create(api)
    other = send_json(api, "patch", f"/library/projects/{project['id']}", {"status": "failed"})
    assert other.status_code == 422 and "'status'" in other.json()["detail"]
    unknown = send_json(
        api, "patch", f"/library/projects/{project['id']}", {"status": "draft", "name": "x"}
    )
    assert unknown.status_code == 422 and "'name'" in unknown.json()["detail"]
    row = Project.objects.get(id=project["id"])
    row.status = Project.Status.READY_FOR_TRIAGE
    row.save()
    stored_clip(row, media.video(seconds=1))
    with_clips = send_json(api, "patch", f"/library/projects/{project['id']}", {"status": "draft"})
    assert with_clips.status_code == 409 and "clips" in with_clips.json()["detail"]


def test_clips_are_live_clips_in_variant_order_with_tokens(api, user, media):
    project = _create(api)
    row = Project.objects.get(id=project["id"])
    video, jpeg = media.video(seconds=1), thumbnail_jpeg(media)
    second = stored_clip(row, video, index=2, thumbnail=jpeg)
    first = stored_clip(row, video, index=1, thumbnail=jpeg, is_selected=True)
    trashed = stored_clip(row, video, index=3)
    clip_trash(clip=trashed)
    response = api.get(f"{BASE}/library/projects/{project['id']}/clips")
    assert response.status_code == 200
    clips = response.json()["clips"]
    assert [c["id"] for c in clips] == [str(first.id), str(second.id)]
    clip = clips[0]
    assert (clip["variant_index"], clip["variant_name"], clip["is_selected"]) == (
        1,
        "Variant 1",
        True,
    )
    assert clip["final_status"] == "pending" and clip["postiz_status"] == "not_sent"
    assert clip["final_video_path"] is None and clip["duration"] == pytest.approx(1, abs=0.1)
    assert clip["raw_video_path"] and clip["thumbnail_path"] and not clip["is_deleted"]
    counts = api.get(f"{BASE}/library/projects/{project['id']}").json()
    assert (counts["variants_count"], counts["selected_count"]) == (2, 1)


def test_progress_of_a_draft_is_zero_with_nulls(api):
    project = _create(api)
    response = api.get(f"{BASE}/library/projects/{project['id']}/progress")
    assert response.status_code == 200
    assert response.json() == {"percentage": 0, "current_step": None, "estimated_remaining": None}


def test_generate_from_an_upload_then_progress_and_clips(api, user, media):
    project = _create(api, target_duration=2)
    with media.video(seconds=4).open("rb") as fh:
        response = api.post(
            f"{BASE}/library/projects/{project['id']}/generate",
            {"video": fh, "variant_count": "2"},
        )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "generating"
    assert api.get(f"{BASE}/library/projects/{project['id']}").json()["status"] == "generating"
    source = SourceVideo.objects.get(owner=user)  # the upload became a library source video
    assert Project.objects.get(id=project["id"]).source_video == source
    run_burst_worker()
    body = api.get(f"{BASE}/library/projects/{project['id']}").json()
    assert (body["status"], body["variants_count"]) == ("ready_for_triage", 2)
    progress = api.get(f"{BASE}/library/projects/{project['id']}/progress").json()
    assert (progress["percentage"], progress["estimated_remaining"]) == (100, None)
    assert isinstance(progress["current_step"], str) and progress["current_step"]
    clips = api.get(f"{BASE}/library/projects/{project['id']}/clips").json()["clips"]
    assert [c["variant_index"] for c in clips] == [1, 2]
    assert all(c["final_status"] == "pending" and c["raw_video_path"] for c in clips)
    assert all(Clip.objects.get(id=c["id"]).has_audio is True for c in clips)


def test_generate_from_a_path_token_of_the_users_own_video(api, user, media):
    source = stored_source(user, media.video(seconds=4))
    project = _create(api, target_duration=2)
    token = path_token(source.file.name, owner_id=user.pk)
    response = api.post(
        f"{BASE}/library/projects/{project['id']}/generate",
        {"video_path": token, "variant_count": "1"},
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.files.get(label="source").name == source.file.name
    assert Project.objects.get(id=project["id"]).source_video == source


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"video_path": "C:\\videos\\input.mp4", "variant_count": "3"}, "video_path"),
        ({"video_path": "/etc/passwd", "variant_count": "3"}, "video_path"),
        ({"variant_count": "3"}, "video"),
        ({"video_path": "x", "variant_count": "11"}, "variant_count"),
        ({"video_path": "x", "variant_count": "NaN"}, "variant_count"),
        ({"video_path": "x", "variant_count": "3", "target_duration": "20"}, "target_duration"),
    ],
)
def test_generate_refuses_server_paths_and_bad_fields(api, fields, field):
    project = _create(api)
    response = api.post(f"{BASE}/library/projects/{project['id']}/generate", fields)
    assert response.status_code == 422, response.content
    assert f"'{field}'" in response.json()["detail"]
    assert Project.objects.get(id=project["id"]).status == "draft" and not Job.objects.exists()


def test_generate_refuses_another_users_token(api, other_user, media):
    theirs = stored_source(other_user, media.video(seconds=2))
    project = _create(api)
    token = path_token(theirs.file.name, owner_id=other_user.pk)
    response = api.post(
        f"{BASE}/library/projects/{project['id']}/generate",
        {"video_path": token, "variant_count": "1"},
    )
    assert response.status_code == 422 and "'video_path'" in response.json()["detail"]


def test_cancel_stops_the_generation_and_the_page_rereads_the_project(api, media):
    project = _create(api, target_duration=2)
    with media.video(seconds=4).open("rb") as fh:
        api.post(
            f"{BASE}/library/projects/{project['id']}/generate", {"video": fh, "variant_count": "1"}
        )
    response = api.post(f"{BASE}/library/projects/{project['id']}/cancel")
    assert response.status_code == 200
    after = api.get(f"{BASE}/library/projects/{project['id']}").json()
    assert after["status"] == "draft"  # no clips: back to draft (6.4)
    assert Job.objects.get().status == JobStatus.CANCELLED
    again = api.post(f"{BASE}/library/projects/{project['id']}/cancel")
    assert again.status_code == 409 and isinstance(again.json()["detail"], str)


def test_delete_removes_the_project_and_its_clips(api, user, media):
    project = _create(api)
    stored_clip(Project.objects.get(id=project["id"]), media.video(seconds=1))
    response = api.delete(f"{BASE}/library/projects/{project['id']}")
    assert response.status_code == 200 and response.json()["deleted"] is True
    assert not Project.objects.exists() and not Clip.objects.exists()
    assert api.get(f"{BASE}/library/projects/{project['id']}").status_code == 404


def _from_segments(api, project_id, **fields):
    body = {
        "variant_count": 2,
        "selection_mode": "sequential",
        "target_duration": 2,
        "mute_source_voice": False,
        **fields,
    }
    return send_json(api, "post", f"/library/projects/{project_id}/generate-from-segments", body)


def test_generate_from_segments_needs_assigned_segments(api):
    project = _create(api)
    response = _from_segments(api, project["id"])
    assert response.status_code == 422 and "segment" in response.json()["detail"]
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"tts_text": "Hello there.", "generate_tts": False}, "generate_tts"),
        ({"tts_text": "  ", "generate_tts": True}, "tts_text"),
        ({"selection_mode": "best"}, "selection_mode"),
        ({"variant_count": 0}, "variant_count"),
        ({"target_duration": 1}, "target_duration"),
        ({"segment_ids": ["1"]}, "segment_ids"),
    ],
)
def test_generate_from_segments_names_the_field_it_refuses(api, user, media, fields, field):
    from tests.frontend.library_fixtures import segment

    source = stored_source(user, media.video(seconds=3))
    project = _create(api)
    assigned = segment(source, 0.0, 2.0)
    api.post(f"{BASE}/segments/projects/{project['id']}/assign", {"segment_ids": [assigned.id]})
    response = _from_segments(api, project["id"], **fields)
    assert response.status_code == 422, response.content
    assert f"'{field}'" in response.json()["detail"], response.json()
    assert not Job.objects.exists() and not ClipContent.objects.exists()


def test_generate_from_segments_answers_what_it_started(api, user, media):
    from tests.frontend.library_fixtures import segment

    source = stored_source(user, media.video(seconds=3))
    project = _create(api)
    ids = [segment(source, 0.0, 1.0).id, segment(source, 1.0, 2.5).id]
    api.post(f"{BASE}/segments/projects/{project['id']}/assign", {"segment_ids": ids[::-1]})
    response = _from_segments(api, project["id"], selection_mode="weighted")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["project_id"], body["segments_count"]) == (
        "generating",
        project["id"],
        2,
    )
    job = Job.objects.get(id=body["job_id"])
    assert [s["segment_id"] for s in job.params["segments"]] == ids[::-1]  # the assigned order
    assert (job.params["order"], job.params["variant_count"], job.params["target_duration"]) == (
        "weighted",
        2,
        2,
    )
    assert job.params["voice_mute"] is None and job.params["tts_text"] is None
    assert json.loads(json.dumps(body))  # plain JSON, only logged by the page
