"""Shared by the video and audio endpoint tests: library rows, posting files, the error shape."""

import json
from contextlib import ExitStack
from pathlib import Path

from django.core.files import File

from jobs.models import Job
from media_pipeline.library.models import SourceVideo

API = "/api/v1/library"


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error", "detail"} and {"code", "message", "details"} <= set(body["error"])
    assert body["detail"] == body["error"]["message"]  # the frontend shows `detail`
    return body["error"]


def fields(response) -> set[str]:
    """The field paths named by an error's details."""
    return {d.get("field") for d in error(response)["details"]}


def source_video(owner, path: Path) -> SourceVideo:
    """A library source video owning a copy of `path` (saved through its FileField)."""
    row = SourceVideo(owner=owner, name=path.name, size=path.stat().st_size)
    with path.open("rb") as fh:
        row.file.save(path.name, File(fh), save=True)
    return row


def post(client, endpoint: str, *, params: dict | None = None, files: dict | None = None, **data):
    """POST multipart form data; `files` maps a field to a path or a list of paths."""
    form = dict(data)
    if params is not None:
        form["params"] = json.dumps(params)
    with ExitStack() as stack:
        for field, value in (files or {}).items():
            paths = value if isinstance(value, list) else [value]
            handles = [stack.enter_context(Path(p).open("rb")) for p in paths]
            form[field] = handles if isinstance(value, list) else handles[0]
        return client.post(f"{API}{endpoint}", form)


def created_job(response) -> Job:
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"job_id", "status", "status_url", "events_url", "scheduled_for"}
    assert body["status"] == "queued" and body["scheduled_for"] is None
    return Job.objects.get(id=body["job_id"])


def job_inputs(job) -> dict[str, tuple[str, str, int]]:
    """label -> (role, storage name, size) of the job's input files."""
    return {f.label: (f.role, f.name, f.size) for f in job.files.all()}
