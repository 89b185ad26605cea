"""Generation end to end through the real forking worker: clips with files, usage counts,
remove-audio, a failing job showing on the project."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.models import Clip, Project, Segment, SourceVideo
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_projects.conftest import API
from tests.stored import stored_path

pytestmark = pytest.mark.django_db(transaction=True)


def _probe(name):
    return probe_media(stored_path(name))


def test_generate_from_an_upload_makes_clips_with_files(api, user, make_project, media):
    project = make_project(target_duration=2)
    with media.video(seconds=4).open("rb") as fh:
        response = api.post(
            f"{API}/projects/{project.id}/generate", {"file": fh, "variant_count": 2}
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    project.refresh_from_db()
    assert project.status == Project.Status.GENERATING and str(project.current_job_id) == job_id
    source = SourceVideo.objects.get(owner=user)
    assert project.source_video == source
    assert source.duration == pytest.approx(4, abs=0.1) and (source.width, source.height) == (
        320,
        240,
    )
    assert Job.objects.get(id=job_id).files.get(label="source").name == source.file.name

    run_burst_worker()

    body = api.get(f"{API}/projects/{project.id}").json()
    assert Job.objects.get(id=job_id).status == JobStatus.COMPLETED
    assert body["status"] == "ready_for_triage" and body["variants_count"] == 2, body
    progress = api.get(f"{API}/projects/{project.id}/progress").json()
    assert progress["percentage"] == 100 and progress["status"] == "ready_for_triage"
    clips = api.get(f"{API}/projects/{project.id}/clips").json()["items"]
    assert [c["variant_index"] for c in clips] == [1, 2]
    for clip in clips:
        row = Clip.objects.get(id=clip["id"])
        info = _probe(row.file.name)
        assert info.duration == pytest.approx(2, abs=0.15) and info.has_audio
        assert clip["duration"] == pytest.approx(2, abs=0.15)
        assert default_storage.exists(row.thumbnail.name)
        assert row.file.name.startswith("library/clip/")  # owned by the clip, not the job
        assert clip["segments"] and all(s["end"] > s["start"] for s in clip["segments"])
    first = clips[0]
    partial = api.get(first["file_url"], HTTP_RANGE="bytes=0-9")
    assert partial.status_code == 206 and len(b"".join(partial.streaming_content)) == 10
    assert partial["Content-Range"].startswith("bytes 0-9/")

    # remove-audio replaces the clip's file with a silent copy and deletes the old one
    old_name = Clip.objects.get(id=first["id"]).file.name
    response = api.post(f"{API}/clips/{first['id']}/remove-audio")
    assert response.status_code == 202, response.content
    run_burst_worker()
    assert Job.objects.get(id=response.json()["job_id"]).status == JobStatus.COMPLETED
    new_name = Clip.objects.get(id=first["id"]).file.name
    assert new_name != old_name and not default_storage.exists(old_name)
    info = _probe(new_name)
    assert not info.has_audio and info.duration == pytest.approx(2, abs=0.15)

    # deleting the project removes its clips' files (the source video stays in the library)
    names = [
        n for c in Clip.objects.filter(project=project) for n in (c.file.name, c.thumbnail.name)
    ]
    assert api.delete(f"{API}/projects/{project.id}").json() == {
        "deleted": True,
        "clips_deleted": 2,
    }
    assert not any(default_storage.exists(n) for n in names)
    assert default_storage.exists(source.file.name)


def test_generate_from_segments_counts_segment_usage(api, make_project, make_source, make_segment):
    source = make_source(seconds=3)
    first = make_segment(source, 0.0, 1.0)
    second = make_segment(source, 1.0, 2.5)
    project = make_project()
    response = api.post(
        f"{API}/projects/{project.id}/generate-from-segments",
        {"segment_ids": [first.id, second.id], "variant_count": 2, "target_duration": 2,
         "order": "sequential"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    run_burst_worker()

    project.refresh_from_db()
    assert project.status == Project.Status.READY_FOR_TRIAGE, project.error
    clips = list(Clip.objects.filter(project=project).order_by("variant_index"))
    # sequential: clip 1 starts with the first segment, clip 2 one segment further
    assert clips[0].segments == [
        {"start": 0.0, "end": 1.0, "segment_id": first.id},
        {"start": 1.0, "end": 2.0, "segment_id": second.id},
    ]
    assert clips[1].segments == [
        {"start": 1.0, "end": 2.5, "segment_id": second.id},
        {"start": 0.0, "end": 0.5, "segment_id": first.id},
    ]
    for clip in clips:
        assert _probe(clip.file.name).duration == pytest.approx(2, abs=0.15)
    usage = lambda: sorted(Segment.objects.values_list("usage_count", flat=True))  # noqa: E731
    assert usage() == [2, 2]

    assert api.delete(f"{API}/clips/{clips[0].id}").status_code == 200  # trash: still used
    assert usage() == [2, 2]
    assert api.delete(f"{API}/clips/{clips[0].id}?permanent=true").status_code == 200
    assert usage() == [1, 1]
    assert api.delete(f"{API}/projects/{project.id}").status_code == 200
    assert usage() == [0, 0]


def test_a_job_failing_for_good_shows_the_project_failed(api, user, make_project):
    bogus = SourceVideo(owner=user, name="notes.mp4")
    bogus.file.save("notes.mp4", ContentFile(b"not a video at all\n" * 50), save=False)
    bogus.save()
    project = make_project()
    response = api.post(f"{API}/projects/{project.id}/generate", {"source_video_id": bogus.id})
    assert response.status_code == 202, response.content
    run_burst_worker()

    assert Job.objects.get(id=response.json()["job_id"]).status == JobStatus.FAILED
    body = api.get(f"{API}/projects/{project.id}").json()
    assert body["status"] == "failed" and "not a" in body["error"]
    listed = api.get(f"{API}/projects?status=failed").json()
    assert [p["id"] for p in listed["items"]] == [project.id]
    progress = api.get(f"{API}/projects/{project.id}/progress").json()
    assert progress["status"] == "failed" and progress["job_status"] == "failed"
    # a failed project can be generated again (and deleted)
    assert (
        api.post(f"{API}/projects/{project.id}/generate", {"source_video_id": bogus.id}).status_code
        == 202
    )
