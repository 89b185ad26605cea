"""A failed or partial upload leaves nothing behind, in the bucket or on disk: a client that
disconnects in the middle of its body (through the product's ASGI application), and an object
store that fails in the middle of a multipart upload (a proxy answering 500 to its later
parts): no object, no unfinished upload, no row, no temp file."""

import asyncio
import os

import pytest
from django.conf import settings

from editfactory.asgi import application
from jobs.models import Job, JobFile, StoringFile
from media_pipeline.library.models import SourceVideo
from tests.conftest import _token_for
from tests.media_pipeline.api_videos.helpers import error, post
from tests.storage.conftest import local_media_files
from tests.storage.fault_proxy import FaultProxy

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024
BOUNDARY = "s3-partial"


@pytest.fixture
def big_video(media):
    """A valid mp4 of ~12 MiB (lossless noise): past the 8 MiB multipart threshold, two parts."""
    return media._make(
        "noise-640x480-1s.mp4",
        ["-f", "lavfi", "-i", "nullsrc=s=640x480:r=25:d=1,geq=random(1)*255:128:128",
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p"],
    )  # fmt: skip


def _temp_entries() -> set[str]:
    found = set()
    for root in (settings.FILE_UPLOAD_TEMP_DIR, settings.JOB_TEMP_DIR / "jobs"):
        if os.path.isdir(root):
            found |= {os.path.join(root, name) for name in os.listdir(root)}
    return found


def _nothing_left(s3, temp_before: set[str]) -> None:
    assert s3.keys() == [] and s3.unfinished() == []
    assert Job.objects.count() == JobFile.objects.count() == StoringFile.objects.count() == 0
    assert SourceVideo.objects.count() == 0
    assert _temp_entries() <= temp_before and local_media_files() == []


def _multipart_head(filename: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()


async def _send_half_then_disconnect(path: str, token: str, video: bytes) -> list[dict]:
    """POST `video` as a multipart upload, but only its first half: then the client is gone."""
    body = _multipart_head("video.mp4") + video + f"\r\n--{BOUNDARY}--\r\n".encode()
    sent = body[: len(body) // 2]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }  # fmt: skip
    chunks = [sent[i : i + MiB] for i in range(0, len(sent), MiB)]
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    answers: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message):
        answers.append(message)

    await application(scope, receive, send)
    return answers


@pytest.mark.parametrize(
    "path", ["/api/v1/library/source-videos", "/api/v1/library/videos/process"]
)
def test_a_client_gone_in_the_middle_of_its_upload_leaves_nothing(s3, user, big_video, path):
    before = _temp_entries()
    answers = asyncio.run(
        _send_half_then_disconnect(path, _token_for(user), big_video.read_bytes())
    )
    assert not [a for a in answers if a["type"] == "http.response.start"]  # nobody to answer
    _nothing_left(s3, before)


@pytest.fixture
def failing_store(s3, settings, s3_endpoint):
    """The settings' endpoint is a proxy that fails every upload part after the first."""
    proxy = FaultProxy(s3_endpoint)
    options = {**settings.STORAGES["default"]["OPTIONS"], "endpoint_url": proxy.endpoint}
    default = {**settings.STORAGES["default"], "OPTIONS": options}
    settings.STORAGES = {**settings.STORAGES, "default": default}
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    ("endpoint", "form"),
    [("/source-videos", {}), ("/videos/process", {"params": {"variant_count": 1}})],
)
def test_a_store_failing_in_the_middle_of_an_upload_leaves_nothing(
    s3, api, big_video, failing_store, endpoint, form
):
    before = _temp_entries()
    response = post(api, endpoint, files={"file": big_video}, **form)
    assert response.status_code == 507, response.content
    message = error(response)["message"]
    assert " storage is failing" in message and "InternalError" in message
    assert failing_store.failed_parts >= 2  # part 2 was tried, and retried, before giving up
    _nothing_left(s3, before)
