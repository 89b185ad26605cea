"""Segments through the API: create within the video, filters, favorite, a real extraction job,
SRT cue matching and assignment to a project."""

import pytest
from django.core.files.storage import default_storage

from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.jobs.render import build_cut_args
from media_pipeline.library.models import Project, Segment
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_render.conftest import API, make_source, patch_json, post_json
from tests.stored import stored_path


def _create(api, source, **body):
    return post_json(api, f"{API}/source-videos/{source.id}/segments", body)


def _ids(response):
    return [s["id"] for s in response.json()["items"]]


@pytest.mark.django_db
def test_create_segment(api, source):
    response = _create(api, source, start=0.5, end=2, keywords=[" Mare ", "", "mare"], notes="n")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["start"], body["end"], body["duration"]) == (0.5, 2.0, 1.5)
    assert body["keywords"] == ["Mare"] and body["notes"] == "n" and not body["extracted"]
    assert Segment.objects.get(id=body["id"]).owner == source.owner


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(2, 2, "end"), (3, 1, "end"), (1, 4.5, "end"), (-1, 1, "start"), (0, 0, "end")],
)
def test_bad_spans_are_422(api, source, start, end, field):
    response = _create(api, source, start=start, end=end)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"].endswith(field)
    assert not Segment.objects.exists()


@pytest.mark.django_db
def test_a_span_to_the_very_end_is_accepted(api, source):
    assert _create(api, source, start=3, end=source.duration).status_code == 201


@pytest.mark.django_db
def test_list_filters(api, user, media, source):
    other = make_source(user, media.video(seconds=3), name="other")
    sea = Segment.objects.create(
        owner=user, source_video=source, start=0, end=1, keywords=["Constanța", "mare"]
    )
    city = Segment.objects.create(
        owner=user, source_video=source, start=1, end=3.5, keywords=["București"], favorite=True
    )
    plain = Segment.objects.create(owner=user, source_video=other, start=0, end=2)
    url = f"{API}/segments"
    assert _ids(api.get(url)) == [sea.id, city.id, plain.id]
    assert _ids(api.get(url, {"keyword": "BUCURE"})) == [city.id]
    assert _ids(api.get(url, {"keyword": "constanta"})) == [sea.id]
    assert _ids(api.get(url, {"source": other.id})) == [plain.id]
    assert _ids(api.get(url, {"favorites": "true"})) == [city.id]
    assert _ids(api.get(url, {"favorites": "false"})) == [sea.id, plain.id]
    assert _ids(api.get(url, {"min_duration": 2})) == [city.id, plain.id]
    assert _ids(api.get(url, {"max_duration": 1.5})) == [sea.id]
    page = api.get(url, {"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and [s["id"] for s in page["items"]] == [city.id]
    assert api.get(url, {"limit": 0}).status_code == 422


@pytest.mark.django_db
def test_get_patch_delete(api, segment):
    url = f"{API}/segments/{segment.id}"
    assert api.get(url).json()["keywords"] == ["București"]
    changed = patch_json(api, url, {"end": 2.5, "keywords": ["Cluj"], "notes": "x"}).json()
    assert (changed["start"], changed["end"], changed["keywords"]) == (0.5, 2.5, ["Cluj"])
    assert patch_json(api, url, {"start": 3}).status_code == 422  # after the end
    assert patch_json(api, url, {"end": 9}).status_code == 422  # past the video
    assert api.get(url).json()["end"] == 2.5
    assert api.delete(url).json()["deleted"] is True
    assert api.get(url).status_code == 404


@pytest.mark.django_db
def test_favorite_toggles_without_a_body_and_sets_with_one(api, segment):
    url = f"{API}/segments/{segment.id}/favorite"
    assert api.post(url, "", content_type="application/json").json()["favorite"] is True
    assert post_json(api, url, {}).json()["favorite"] is False
    assert post_json(api, url, {"favorite": True}).json()["favorite"] is True
    assert post_json(api, url, {"favorite": True}).json()["favorite"] is True
    assert post_json(api, url, {"favorite": None}).json()["favorite"] is False


def test_cut_args(settings):
    settings.ENCODER_THREADS, settings.ENCODER_LOOKAHEAD = 2, 10
    assert build_cut_args("in.mp4", "out.mp4", start=1.5, end=3.25) == [
        "-ss", "1.500", "-t", "1.750", "-i", "in.mp4",
        "-acodec", "aac", "-b:a", "192k", "-crf", "20", "-dn", "-movflags", "+faststart",
        "-pix_fmt", "yuv420p", "-preset", "veryfast", "-sn", "-vcodec", "libx264",
        "-x264-params", "threads=2:rc-lookahead=10:sync-lookahead=0", "out.mp4",
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_extract_cuts_the_span_into_the_segment_and_streams_it(api, segment):
    stream_url = f"{API}/segments/{segment.id}/stream"
    assert api.get(stream_url).status_code == 404
    response = api.post(f"{API}/segments/{segment.id}/extract")
    assert response.status_code == 202, response.content
    run_burst_worker()
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.files.get(label="source").name == segment.source_video.file.name
    segment.refresh_from_db()
    name = segment.extracted_file.name
    info = probe_media(stored_path(name))
    assert info.duration == pytest.approx(1.0, abs=0.1) and info.has_audio
    assert (info.width, info.height) == (320, 240)
    part = api.get(stream_url, HTTP_RANGE="bytes=0-15")
    assert part.status_code == 206 and part["Content-Type"] == "video/mp4"
    # a new span makes the extracted file stale: it is removed
    patch_json(api, f"{API}/segments/{segment.id}", {"end": 2})
    assert not default_storage.exists(name)
    assert api.get(stream_url).status_code == 404


@pytest.mark.django_db
def test_match_srt_returns_each_cues_segments(api, user, media, source, segment):
    other = make_source(user, media.video(seconds=3), name="other")
    sea = Segment.objects.create(owner=user, source_video=other, start=0, end=1, keywords=["mare"])
    srt = (
        "1\n00:00:00,000 --> 00:00:01,000\nWe went to Bucuresti\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nThen to the MARE!\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\nNothing here\n"
    )
    body = post_json(api, f"{API}/match-srt", {"srt": srt}).json()
    assert body["matched_cues"] == 2
    hits = [[(m["segment"]["id"], m["keyword"]) for m in c["matches"]] for c in body["cues"]]
    assert hits == [[(segment.id, "București")], [(sea.id, "mare")], []]
    assert body["cues"][1]["start"] == 1.0 and body["cues"][1]["text"] == "Then to the MARE!"
    only_other = post_json(api, f"{API}/match-srt", {"srt": srt, "source_video_id": other.id})
    assert only_other.json()["matched_cues"] == 1


@pytest.mark.django_db
def test_match_srt_refuses_invalid_srt_with_cue_errors(api):
    srt = "1\n00:00:02,000 --> 00:00:01,000\nBackwards\n"
    response = post_json(api, f"{API}/match-srt", {"srt": srt})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_srt"
    assert error["details"][0]["cue"] == 1 and error["details"][0]["code"] == "end_before_start"


@pytest.mark.django_db
def test_assign_segments_validates_and_keeps_the_order(api, user, source, segment):
    project = Project.objects.create(owner=user, name="P")
    second = Segment.objects.create(owner=user, source_video=source, start=2, end=4)
    url = f"{API}/projects/{project.id}/assign-segments"
    body = post_json(api, url, {"segment_ids": [second.id, segment.id, second.id]}).json()
    assert body["segment_ids"] == [second.id, segment.id]
    assert body["total_duration"] == 3.0 and body["project_id"] == project.id
    missing = post_json(api, url, {"segment_ids": [segment.id, 999999]})
    assert missing.status_code == 404
    assert post_json(api, url, {"segment_ids": []}).status_code == 422
