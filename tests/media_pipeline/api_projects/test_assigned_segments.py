"""A project's assigned segments (v1): stored in order by assign-segments, listed, and used by
generate-from-segments when it is given no segment ids; the generation's voice mute and
voice-over script reach the job."""

import json

import pytest

from jobs.models import Job
from media_pipeline.library.models import ProjectSegment
from tests.media_pipeline.api_projects.conftest import API

pytestmark = pytest.mark.django_db(transaction=True)


def _post(api, url, body):
    return api.post(url, json.dumps(body), content_type="application/json")


def test_assignment_is_stored_in_order_replaced_and_listed(
    api, make_project, make_source, make_segment
):
    project = make_project()
    source = make_source()
    a, b, c = (make_segment(source, n, n + 0.5) for n in (0.0, 1.0, 2.0))
    url = f"{API}/projects/{project.id}/assign-segments"
    assert _post(api, url, {"segment_ids": [c.id, a.id, c.id]}).json()["segment_ids"] == [
        c.id,
        a.id,
    ]
    listed = api.get(f"{API}/projects/{project.id}/segments").json()
    assert listed["segment_ids"] == [c.id, a.id] and listed["total_duration"] == 1.0
    _post(api, url, {"segment_ids": [b.id]})
    assert api.get(f"{API}/projects/{project.id}/segments").json()["segment_ids"] == [b.id]
    b.delete()  # a deleted segment drops out of the assignment
    assert api.get(f"{API}/projects/{project.id}/segments").json()["segment_ids"] == []
    assert not ProjectSegment.objects.exists()


def test_assignment_of_another_users_segment_stores_nothing(
    api, other_user, make_project, make_source, make_segment
):
    project = make_project()
    theirs = make_segment(make_source(owner=other_user), 0.0, 1.0)
    mine = make_segment(make_source(), 0.0, 1.0)
    url = f"{API}/projects/{project.id}/assign-segments"
    assert _post(api, url, {"segment_ids": [mine.id, theirs.id]}).status_code == 404
    assert not ProjectSegment.objects.exists()
    assert (
        api.get(f"{API}/projects/{make_project(owner=other_user).id}/segments").status_code == 404
    )


def test_generate_from_segments_defaults_to_the_assigned_ones(
    api, make_project, make_source, make_segment
):
    project = make_project(target_duration=2)
    source = make_source()
    first, second = make_segment(source, 1.0, 2.0), make_segment(source, 0.0, 1.0)
    url = f"{API}/projects/{project.id}/generate-from-segments"
    none = _post(api, url, {"variant_count": 1})
    assert none.status_code == 422 and "segment_ids" in none.json()["detail"]
    _post(
        api, f"{API}/projects/{project.id}/assign-segments", {"segment_ids": [first.id, second.id]}
    )
    response = _post(
        api,
        url,
        {"variant_count": 1, "voice_mute": {"keep_percentage": 5}, "tts_text": "Hi there."},
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(id=response.json()["job_id"])
    assert [s["segment_id"] for s in job.params["segments"]] == [first.id, second.id]
    assert job.params["voice_mute"]["keep_percentage"] == 5
    assert job.params["tts_text"] == "Hi there."
