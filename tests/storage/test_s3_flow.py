"""Every product path with media in a bucket (moto's S3 server), a real forking RQ worker and
real ffmpeg on lavfi media: an upload becomes a job's input, the worker copies it into its temp
dir and stores the outputs, downloads stream them with Range; the library's project flow
(generate, content, render, download, signed links, path tokens, deletion). Nothing lands on
the local disk, and what is deleted leaves the bucket."""

import json
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from jobs.models import Job, StoringFile
from jobs.status import JobStatus
from media_pipeline.frontend.common import path_token
from media_pipeline.library.models import Clip, Export, ExportPreset
from media_pipeline.ops.presets import PRESETS
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_videos.helpers import created_job, post
from tests.storage.conftest import local_media_files

pytestmark = pytest.mark.django_db(transaction=True)
API = "/api/v1/library"
SRT = "1\n00:00:00,000 --> 00:00:01,200\nHello there.\n"


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _probe_bytes(data: bytes):
    path = settings.DATA_DIR / f"probe-{uuid.uuid4().hex}.mp4"
    path.write_bytes(data)
    try:
        return probe_media(path)
    finally:
        path.unlink()


def _assert_ranges(client, url: str, whole: bytes) -> None:
    part = client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206, part.content
    assert part["Content-Range"] == f"bytes 100-1099/{len(whole)}"
    assert _body(part) == whole[100:1100]
    tail = client.get(url, HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and _body(tail) == whole[-500:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(whole) + 1}-").status_code == 416


def _job_temp_entries(job_id) -> list:
    root = settings.JOB_TEMP_DIR / "jobs"
    return list(root.glob(f"{job_id}-*")) if root.is_dir() else []


@pytest.fixture
def staff(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def test_upload_job_outputs_and_ranged_downloads_live_in_the_bucket(s3, api, media, staff):
    video = media.video(seconds=6)
    response = post(
        api,
        "/videos/process",
        params={"variant_count": 2, "target_duration": 2},
        files={"file": video},
    )
    job = created_job(response)
    [input_key] = s3.keys(f"jobs/{job.id}/input/")
    assert s3.client.get_object(Bucket=s3.name, Key=input_key)["Body"].read() == video.read_bytes()

    run_burst_worker()  # forks a work horse: it copies the input from the bucket into its temp dir
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    body = api.get(f"/api/v1/jobs/{job.id}").json()
    outputs = [f for f in body["files"] if f["role"] == "output"]
    assert {f["label"] for f in outputs} == {"variant_1", "variant_2", "thumbnail_1", "thumbnail_2"}
    keys = set(s3.keys(f"jobs/{job.id}/"))
    stored = set(job.files.filter(role="output").values_list("name", flat=True))
    assert len(stored) == 4 and stored | {input_key} == keys

    variant = next(f for f in outputs if f["label"] == "variant_1")
    whole = _body(api.get(variant["download_url"]))
    assert len(whole) == variant["size"]
    info = _probe_bytes(whole)
    assert (info.width, info.height) == (320, 240) and abs(info.duration - 2) < 0.3
    _assert_ranges(Client(), variant["download_url"], whole)  # the signed link, no header
    admin_link = reverse("admin:jobs_job_file", args=[job.pk, variant["id"]])
    _assert_ranges(staff, admin_link, whole)  # the admin's file link

    assert local_media_files() == [] and _job_temp_entries(job.id) == []
    assert StoringFile.objects.count() == 0 and s3.unfinished() == []
    assert api.delete(f"/api/v1/jobs/{job.id}").status_code == 200
    assert s3.keys(f"jobs/{job.id}/") == []


@pytest.fixture
def small_reels_preset(db):
    fields = PRESETS["instagram_reels"].as_dict()
    fields.update(width=180, height=320, fps=15, crf=30, x264_preset="ultrafast")
    ExportPreset.objects.update_or_create(name=fields.pop("name"), defaults=fields)


def _json(client, method, url, body):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_the_library_project_flow_keeps_its_media_in_the_bucket(
    s3, api, user, media, small_reels_preset, staff
):
    project = _json(api, "post", f"{API}/projects", {"name": "On S3"}).json()
    with media.video(seconds=6).open("rb") as fh:
        started = api.post(
            f"{API}/projects/{project['id']}/generate",
            {"file": fh, "variant_count": 2, "target_duration": 2},
        )
    assert started.status_code == 202, started.content
    run_burst_worker()
    assert api.get(f"{API}/projects/{project['id']}").json()["status"] == "ready_for_triage"
    clips = api.get(f"{API}/projects/{project['id']}/clips").json()["items"]
    assert len(clips) == 2
    clip = Clip.objects.get(id=clips[0]["id"])
    assert clip.file.name in s3.keys("library/") and clip.thumbnail.name in s3.keys("library/")

    content = {"tts_text": "Hello from the bucket.", "tts_provider": "offline", "srt": SRT}
    assert _json(api, "put", f"{API}/clips/{clip.id}/content", content).status_code == 200
    render = _json(api, "post", f"{API}/clips/{clip.id}/render", {"preset": "instagram_reels"})
    assert render.status_code == 202, render.content
    run_burst_worker()
    done = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert (done["status"], done["percentage"]) == ("completed", 100), done

    export = Export.objects.get(clip=clip)
    assert export.file.name in s3.keys("library/")
    download = api.get(f"{API}/clips/{clip.id}/download")
    assert download.status_code == 200 and download["Content-Type"] == "video/mp4"
    whole = _body(download)
    info = _probe_bytes(whole)
    assert (info.width, info.height, info.has_audio) == (180, 320, True)
    _assert_ranges(api, f"{API}/clips/{clip.id}/download", whole)
    # Signed links (v1) and path tokens (the frontend's /files/{token}) open it with no header.
    assert _body(Client().get(done["download_url"])) == whole
    token = path_token(export.file.name, owner_id=user.id)
    _assert_ranges(Client(), f"/api/frontend/v1/library/files/{quote(token, safe='')}", whole)
    clip_url = api.get(f"{API}/clips/{clip.id}").json()["file_url"]
    with clip.file.open("rb") as fh:
        clip_bytes = fh.read()
    assert _body(Client().get(clip_url)) == clip_bytes
    admin_link = reverse("admin:media_pipeline_clip_media", args=[clip.pk, "file"])
    assert _body(staff.get(admin_link)) == clip_bytes

    assert local_media_files() == [] and s3.unfinished() == []
    assert StoringFile.objects.count() == 0
    library = set(s3.keys("library/"))
    assert api.delete(f"{API}/projects/{project['id']}").status_code == 200
    gone = {export.file.name, clip.file.name, clip.thumbnail.name}
    assert gone <= library and not gone & set(s3.keys("library/"))
    assert Job.objects.filter(status=JobStatus.FAILED).count() == 0
