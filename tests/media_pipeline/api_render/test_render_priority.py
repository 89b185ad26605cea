"""A clip render (and a bulk render) at a priority: the render jobs carry it into the renders
queue, and a bad priority starts nothing."""

import pytest

from jobs import queue, services
from jobs.models import Job
from media_pipeline.library.models import Export
from tests.media_pipeline.api_render.conftest import API, make_clip, post_json

pytestmark = pytest.mark.django_db(transaction=True)


def test_render_and_bulk_render_take_a_priority(api, user, media, clip, tiny_preset):
    response = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "tiny", "priority": 8})
    assert response.status_code == 202, response.content
    job = Job.objects.get(id=response.json()["job_id"])
    assert (job.job_type, job.priority) == ("clip_render", 8)
    assert queue.waiting("renders") == 1
    assert services.job_queue_place(job).queue == "renders"
    other = make_clip(user, media.video(seconds=2))
    response = post_json(
        api, f"{API}/clips/bulk-render", {"clip_ids": [clip.id, other.id], "priority": -4}
    )
    assert response.status_code == 202, response.content
    jobs = Job.objects.filter(id__in=[i["job_id"] for i in response.json()["items"]])
    assert sorted(j.priority for j in jobs) == [-4, -4]


def test_a_render_with_a_priority_out_of_bounds_starts_nothing(api, clip, tiny_preset):
    response = post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "tiny", "priority": 20})
    assert response.status_code == 422
    assert response.json()["detail"] == "'priority' must be from -10 to 10, got 20"
    assert not Job.objects.exists() and not Export.objects.exists()
