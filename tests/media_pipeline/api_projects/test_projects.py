"""Projects: CRUD, filters, pagination, status transitions (derived from the job), cancel, 409s."""

import pytest

from jobs import services as job_services
from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.jobs.generate import Span, plan_reuse, plan_span_variants
from media_pipeline.library.models import Project
from tests.media_pipeline.api_projects.conftest import API

pytestmark = pytest.mark.django_db


def test_create_get_patch_and_list(api, user):
    response = api.post(
        f"{API}/projects",
        {"name": "Launch", "target_duration": 15},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "draft" and created["target_duration"] == 15
    assert created["variants_count"] == created["selected_count"] == 0
    pid = created["id"]

    patched = api.patch(
        f"{API}/projects/{pid}", {"name": "Launch v2", "context_text": "shoes"},
        content_type="application/json",
    ).json()  # fmt: skip
    assert (patched["name"], patched["context_text"], patched["target_duration"]) == (
        "Launch v2", "shoes", 15,
    )  # fmt: skip
    assert api.get(f"{API}/projects/{pid}").json()["name"] == "Launch v2"
    assert Project.objects.get(id=pid).owner == user


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "x", "target_duration": 1}, {"name": "x", "target_duration": 601}],
)
def test_create_rejects_invalid_input(api, body):
    response = api.post(f"{API}/projects", body, content_type="application/json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


def test_patch_rejects_an_empty_name_and_cannot_set_status(api, make_project):
    project = make_project()
    url = f"{API}/projects/{project.id}"
    assert api.patch(url, {"name": ""}, content_type="application/json").status_code == 422
    api.patch(url, {"status": "ready_for_triage"}, content_type="application/json")
    assert Project.objects.get(id=project.id).status == "draft"


def test_list_filters_by_status_newest_first_with_pagination(api, make_project, other_user):
    old = make_project(name="old")
    ready = make_project(name="ready", status=Project.Status.READY_FOR_TRIAGE)
    new = make_project(name="new")
    make_project(owner=other_user, name="not mine")
    page = api.get(f"{API}/projects?limit=2").json()
    assert page["total"] == 3 and [p["id"] for p in page["items"]] == [new.id, ready.id]
    assert [p["id"] for p in api.get(f"{API}/projects?limit=2&offset=2").json()["items"]] == [
        old.id
    ]
    drafts = api.get(f"{API}/projects?status=draft").json()
    assert drafts["total"] == 2 and {p["id"] for p in drafts["items"]} == {old.id, new.id}
    assert api.get(f"{API}/projects?status=bogus").status_code == 422
    assert api.get(f"{API}/projects?limit=0").status_code == 422


def _generate(api, project, source):
    return api.post(f"{API}/projects/{project.id}/generate", {"source_video_id": source.id})


def test_generate_moves_to_generating_and_refuses_a_second_start(api, make_project, make_source):
    project, source = make_project(), make_source()
    response = _generate(api, project, source)
    assert response.status_code == 202, response.content
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.job_type == "project_generate" and job.params["project_id"] == project.id
    body = api.get(f"{API}/projects/{project.id}").json()
    assert body["status"] == "generating" and body["current_job_id"] == str(job.id)
    again = _generate(api, project, source)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    segments = api.post(
        f"{API}/projects/{project.id}/generate-from-segments", {"segment_ids": [1]},
        content_type="application/json",
    )  # fmt: skip
    assert segments.status_code == 409
    assert Job.objects.count() == 1
    progress = api.get(f"{API}/projects/{project.id}/progress").json()
    assert progress["status"] == "generating" and progress["job_status"] == "queued"
    assert progress["percentage"] == 0


def test_a_refused_upload_leaves_no_source_video(api, make_project, make_source, media):
    project = make_project()
    assert _generate(api, project, make_source()).status_code == 202
    with media.video(seconds=2).open("rb") as fh:
        response = api.post(f"{API}/projects/{project.id}/generate", {"file": fh})
    assert response.status_code == 409
    assert project.owner.source_videos.count() == 1


@pytest.mark.parametrize(
    "form", [{}, {"variant_count": 0}, {"variant_count": 11}, {"target_duration": 1}]
)
def test_generate_validates_its_form(api, make_project, make_source, form):
    source = make_source()
    form = {"source_video_id": source.id, **form} if form else {}
    response = api.post(f"{API}/projects/{make_project().id}/generate", form)
    assert response.status_code == 422
    assert Job.objects.count() == 0


def test_generate_rejects_a_non_media_upload(api, make_project, media):
    project = make_project()
    with media.text_file().open("rb") as fh:
        response = api.post(f"{API}/projects/{project.id}/generate", {"file": fh})
    assert response.status_code == 415
    project.refresh_from_db()
    assert project.status == "draft" and project.owner.source_videos.count() == 0


def test_generate_from_segments_needs_your_segments(
    api, make_project, make_source, make_segment, other_user
):
    foreign = make_segment(make_source(owner=other_user), 0, 1)
    project = make_project()
    url = f"{API}/projects/{project.id}/generate-from-segments"
    response = api.post(url, {"segment_ids": [foreign.id]}, content_type="application/json")
    assert response.status_code == 404 and str(foreign.id) in response.json()["error"]["message"]
    for body in ({"segment_ids": []}, {"segment_ids": [1], "order": "alphabetical"}):
        assert api.post(url, body, content_type="application/json").status_code == 422
    assert Job.objects.count() == 0 and Project.objects.get(id=project.id).status == "draft"


def test_cancel_stops_the_job_and_returns_to_draft(api, make_project, make_source):
    project = make_project()
    job_id = _generate(api, project, make_source()).json()["job_id"]
    response = api.post(f"{API}/projects/{project.id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "draft"
    assert Job.objects.get(id=job_id).status == JobStatus.CANCELLED
    again = api.post(f"{API}/projects/{project.id}/cancel")
    assert again.status_code == 409 and "not generating" in again.json()["error"]["message"]


def test_cancel_keeps_a_project_with_clips_ready(api, make_project, make_source, make_clip):
    project = make_project(status=Project.Status.READY_FOR_TRIAGE)
    make_clip(project)
    assert _generate(api, project, make_source()).status_code == 202
    assert api.post(f"{API}/projects/{project.id}/cancel").json()["status"] == "ready_for_triage"


def test_delete_is_refused_while_generating(api, make_project, make_source):
    project = make_project()
    _generate(api, project, make_source())
    response = api.delete(f"{API}/projects/{project.id}")
    assert response.status_code == 409 and "cancel" in response.json()["error"]["message"]
    assert Project.objects.filter(id=project.id).exists()
    api.post(f"{API}/projects/{project.id}/cancel")
    assert api.delete(f"{API}/projects/{project.id}").status_code == 200
    assert not Project.objects.filter(id=project.id).exists()


def test_status_follows_the_job_when_it_ends_elsewhere(api, make_project, make_source):
    """Failed for good -> failed (with the job's error); retried -> generating again;
    cancelled through the jobs API -> draft; job deleted -> failed."""
    project = make_project()
    job = Job.objects.get(id=_generate(api, project, make_source()).json()["job_id"])
    url = f"{API}/projects/{project.id}"
    job_services.job_fail(job_id=job.id, message="ffmpeg exploded")
    body = api.get(url).json()
    assert (body["status"], body["error"]) == ("failed", "ffmpeg exploded")
    assert Project.objects.get(id=project.id).status == "failed"  # stored, so filters agree

    job.refresh_from_db()
    job_services.job_retry(job=job)
    assert api.get(url).json()["status"] == "generating"
    job_services.job_cancel(job=job)
    assert api.get(url).json()["status"] == "draft"

    job = Job.objects.get(id=_generate(api, project, make_source()).json()["job_id"])
    job_services.job_delete(job=job)
    body = api.get(url).json()
    assert body["status"] == "failed" and "deleted" in body["error"]


def test_progress_reads_the_current_job(api, make_project, make_source):
    project = make_project()
    job = Job.objects.get(id=_generate(api, project, make_source()).json()["job_id"])
    Job.objects.filter(id=job.id).update(
        status=JobStatus.PROCESSING, progress=42.5, stage="render",
        stage_label="Rendering variant 1 of 3", eta_seconds=12.0,
    )  # fmt: skip
    body = api.get(f"{API}/projects/{project.id}/progress").json()
    assert body == {
        "status": "generating", "job_id": str(job.id), "job_status": "processing",
        "percentage": 42.5, "current_step": "Rendering variant 1 of 3",
        "estimated_remaining": 12.0, "error": "", "reuse": None,
    }  # fmt: skip


def test_progress_of_a_fresh_project(api, make_project):
    body = api.get(f"{API}/projects/{make_project().id}/progress").json()
    assert (body["status"], body["percentage"], body["job_id"]) == ("draft", 0, None)


# --- the span planner (pure) -------------------------------------------------------------------
SPANS = [Span("a", 0, 3, 0.1, 1), Span("a", 5, 7, 0.9, 2), Span("b", 1, 2, 0.5, 3)]


def _durations(plan):
    return [round(sum(s.duration for s in v), 3) for v in plan]


@pytest.mark.parametrize("order", ["random", "sequential", "weighted"])
def test_every_variant_reaches_the_target(order):
    plan = plan_span_variants(SPANS, count=4, target_duration=4, order=order, seed=7)
    assert len(plan) == 4 and _durations(plan) == [4, 4, 4, 4]
    assert plan == plan_span_variants(SPANS, count=4, target_duration=4, order=order, seed=7)


def test_sequential_rotates_the_start():
    plan = plan_span_variants(SPANS, count=3, target_duration=1, order="sequential", seed=0)
    assert [v[0].segment_id for v in plan] == [1, 2, 3]


def test_weighted_prefers_high_scores():
    spans = [Span("a", 0, 1, 0.01, 1), Span("a", 1, 2, 10.0, 2)]
    plan = plan_span_variants(spans, count=10, target_duration=1, order="weighted", seed=3)
    firsts = [v[0].segment_id for v in plan]
    assert firsts.count(2) >= 8


@pytest.mark.parametrize("order", ["random", "sequential", "weighted"])
def test_spans_with_enough_time_are_split_between_variants_not_shared(order):
    """20 s of spans on two sources for 4 clips of 4.5 s: no clip shares a moment with
    another, whatever the order (each variant used to take spans from the whole pool)."""
    spans = [Span("a", 0, 6, 0.3, 1), Span("a", 6, 9, 0.8, 2), Span("b", 0, 5, 0.5, 3),
             Span("b", 10, 16, 0.2, 4)]  # fmt: skip
    plan = plan_span_variants(spans, count=4, target_duration=4.5, order=order, seed=5)
    assert _durations(plan) == [4.5] * 4
    assert plan_reuse(plan, material="the spans are") == {
        "reused_segments": False, "shared_time": [], "shared_seconds": 0, "note": "",
    }  # fmt: skip


def test_a_short_pool_gives_shorter_clips():
    plan = plan_span_variants(SPANS[:1], count=1, target_duration=10, order="random", seed=1)
    assert _durations(plan) == [3]
