"""The scale-out proof (issue 16, docs/production.md#the-scale-out-proof): one web host and two
worker hosts, separate `manage.py up --role ...` processes, each with its own data, temp and media
dirs (nothing shared on disk), sharing only PostgreSQL, Redis and an S3 bucket (moto's server,
started here). A frontend's whole project flow runs through the web host's HTTP API; the worker
host running the render is SIGKILLed (its whole process tree: a lost machine) in the middle of
the encode. The other host finishes the job after the maintenance loop's rescue, the download
plays, and the bucket holds exactly what the rows name: nothing lost, duplicated or orphaned.

PostgreSQL only: SQLite is a file on one machine (the roles refuse it without --one-machine), so
the SQLite run skips this test and the CI's PostgreSQL leg runs it."""

import json
from pathlib import Path

import httpx
import pytest
from django.apps import apps
from django.db import connection, models

from core.auth import api_token_create
from jobs.models import Job, JobFile, StoringFile
from media_pipeline.library.models import Export, ExportPreset
from media_pipeline.ops.presets import PRESETS
from media_pipeline.ops.probe import probe_media
from tests.conftest import descendants, wait_for
from tests.storage.conftest import s3, s3_endpoint  # noqa: F401 - fixtures
from tests.up_process import RoleHost, role_env, running_roles

pytestmark = [
    pytest.mark.scale_out,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the scale-out proof needs PostgreSQL (hosts share no SQLite file): run it with "
        "DATABASE_URL=postgres://... as the CI's PostgreSQL leg does",
    ),
]
API = "/api/v1/library"
SRT = "1\n00:00:00,000 --> 00:00:02,000\nTwo hosts, one render.\n"
CONTENT = {"tts_text": "Two worker hosts share one render.", "tts_provider": "offline", "srt": SRT}
# Short liveness timings, the same on every host (they must agree): a lost worker's job is
# rescued 8 s after its last heartbeat; a lost maintenance loop's lease passes on after 5 s.
TIMINGS = {
    "EF_HEARTBEAT_INTERVAL": "1",
    "EF_HEARTBEAT_TIMEOUT": "8",
    "EF_MAINTENANCE_INTERVAL": "1",
    "EF_MAINTENANCE_LEASE_SECONDS": "5",
    "EF_WORKER_HEARTBEAT_INTERVAL": "1",
}


def host_env(host_dir: Path) -> dict[str, str]:
    """A host's own dirs: data, job temp dirs, the system temp dir and a media dir that must
    stay empty (media lives in the bucket: the `s3` fixture put it in the environment)."""
    for name in ("tmp", "systemp", "media"):
        (host_dir / name).mkdir(parents=True, exist_ok=True)
    return role_env(
        host_dir,
        media_dir=host_dir / "media",
        EF_TEMP_DIR=str(host_dir / "tmp"),
        TMPDIR=str(host_dir / "systemp"),
        **TIMINGS,
    )


def job_temp_dirs(host_dir: Path, job_id) -> list[Path]:
    root = host_dir / "tmp" / "jobs"
    return sorted(root.glob(f"{job_id}-*")) if root.is_dir() else []


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def slow_enough_preset(db):
    """An operator's preset (presets are editable): small enough to keep the test short, a slow
    enough x264 preset that the encode lasts seconds and can be caught in the middle."""
    fields = PRESETS["instagram_reels"].as_dict()
    fields.update(width=540, height=960, fps=30, crf=23, x264_preset="slow")
    ExportPreset.objects.update_or_create(name=fields.pop("name"), defaults=fields)


def referenced_names() -> set[str]:
    """Every storage name a row refers to: job files and every file field of every model."""
    names = set(JobFile.objects.values_list("name", flat=True))
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                rows = model._base_manager.exclude(**{field.name: ""}).exclude(
                    **{f"{field.name}__isnull": True}
                )
                names |= set(rows.values_list(field.name, flat=True))
    return names


class Frontend:
    """The calls a frontend makes, over HTTP to the web host."""

    def __init__(self, base: str, token: str):
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def call(self, method: str, url: str, body=None, expect: int = 200, **kwargs):
        if body is not None:
            kwargs.update(content=json.dumps(body), headers={"Content-Type": "application/json"})
        response = self.http.request(method, url, **kwargs)
        assert response.status_code == expect, (method, url, response.text)
        return response

    def json(self, method: str, url: str, body=None, expect: int = 200, **kwargs):
        return self.call(method, url, body, expect, **kwargs).json()


def _generate(front: Frontend, media) -> tuple[dict, dict]:
    project = front.json("POST", f"{API}/projects", {"name": "Scale-out proof"}, expect=201)
    with media.video(seconds=24, size="640x360").open("rb") as fh:
        front.call(
            "POST",
            f"{API}/projects/{project['id']}/generate",
            files={"file": ("source.mp4", fh, "video/mp4")},
            data={"variant_count": "2", "target_duration": "10"},
            expect=202,
        )
    wait_for(
        lambda: front.json("GET", f"{API}/projects/{project['id']}")["status"] != "generating",
        timeout=240, interval=0.5, message="the project's generation",
    )  # fmt: skip
    assert front.json("GET", f"{API}/projects/{project['id']}")["status"] == "ready_for_triage"
    clips = front.json("GET", f"{API}/projects/{project['id']}/clips")["items"]
    assert len(clips) == 2
    return project, clips[0]


def _mid_encode(front: Frontend, clip_id: int) -> dict | None:
    progress = front.json("GET", f"{API}/clips/{clip_id}/render/progress")
    ended = progress["status"] in ("completed", "failed")
    assert not ended, f"the render ended before it was caught mid-way: {progress}"
    in_encode = progress["current_step"] == "render" and 40 <= progress["percentage"] < 90
    return progress if in_encode else None


def _holder(job_id, hosts: list[RoleHost]) -> RoleHost:
    """The worker host whose process tree runs the job's attempt (Job.worker is host:pid)."""
    pid = int(Job.objects.get(id=job_id).worker.rsplit(":", 1)[1])
    (holder,) = [h for h in hosts if pid in descendants(h.process.pid)]
    return holder


def test_a_worker_host_lost_mid_render_loses_and_duplicates_nothing(
    tmp_path,
    user,
    media,
    s3,  # noqa: F811 - the imported fixture
    slow_enough_preset,
):
    _, token = api_token_create(user=user, name="scale-out")
    dirs = {name: tmp_path / name for name in ("web", "worker-a", "worker-b")}
    roles = [("web" if n == "web" else "worker", d, host_env(d)) for n, d in dirs.items()]
    with running_roles(roles) as (web, *workers):
        front = Frontend(web.base, token)
        wait_for(lambda: front.json("GET", "/api/v1/health")["workers"] == 2,
                 timeout=180, interval=0.5, message="both worker hosts' workers")  # fmt: skip
        _, clip = _generate(front, media)
        front.json("PUT", f"{API}/clips/{clip['id']}/content", CONTENT)
        render = {"preset": "instagram_reels", "sync": "keep"}  # the clip's length
        front.json("POST", f"{API}/clips/{clip['id']}/render", render, expect=202)

        caught = wait_for(lambda: _mid_encode(front, clip["id"]), timeout=240, interval=0.2,
                          message="the render in the middle of its encode")  # fmt: skip
        job_id = caught["job_id"]
        lost, lost_worker = _holder(job_id, workers), Job.objects.get(id=job_id).worker
        survivor = next(h for h in workers if h is not lost)
        lost.kill()
        # What the lost host was writing stays on its own disk: nobody else sees or cleans it.
        leftovers = job_temp_dirs(lost.log_path.parent, job_id)
        assert leftovers and files(leftovers[0])

        on_survivor = _wait_rescued(job_id, survivor)
        done = front.json("GET", f"{API}/clips/{clip['id']}/render/progress")
        assert (done["status"], done["percentage"], done["attempt"]) == ("completed", 100, 2), done
        assert on_survivor and all(on_survivor)  # each look at the 2nd attempt: the survivor's
        _assert_plays(front, clip, tmp_path / "download.mp4")
        _assert_rescue_history(front.json("GET", f"/api/v1/jobs/{job_id}/history"), lost_worker)
        _assert_bucket_exact(s3, clip["id"])
        assert job_temp_dirs(survivor.log_path.parent, job_id) == []
        assert job_temp_dirs(lost.log_path.parent, job_id) == leftovers  # there, and harmless
        for name, host_dir in dirs.items():
            assert files(host_dir / "media") == [], f"{name} wrote media to its own disk"
        front.http.close()
    for host in (web, *workers):
        assert "Traceback" not in host.output(), host.output()


def _wait_rescued(job_id, survivor: RoleHost) -> list[bool]:
    """Wait for the job to end; whether its second attempt was seen running on `survivor`
    (Job.worker's pid in its process tree), once per look."""
    seen = []

    def ended():
        job = Job.objects.get(id=job_id)
        if job.status == "processing" and job.attempts == 2 and job.worker:
            seen.append(int(job.worker.rsplit(":", 1)[1]) in descendants(survivor.process.pid))
        return job.status in ("completed", "failed")

    wait_for(ended, timeout=300, interval=0.3, message="the rescued render")
    return seen


def _assert_plays(front: Frontend, clip: dict, out: Path) -> None:
    download = front.call("GET", f"{API}/clips/{clip['id']}/download")
    assert download.headers["content-type"] == "video/mp4"
    out.write_bytes(download.content)
    info = probe_media(out)
    assert (info.width, info.height, info.has_audio) == (540, 960, True)
    assert abs(info.duration - clip["duration"]) < 0.5, (info.duration, clip)


def _assert_rescue_history(history: dict, lost_worker: str) -> None:
    kinds = [(e["kind"], e["attempt"]) for e in history["events"]]
    assert kinds == [
        ("queued", 0), ("started", 1), ("rescued", 1), ("started", 2), ("completed", 2),
    ], kinds  # fmt: skip
    first, second = history["attempts"]
    assert first["worker"] == lost_worker and first["outcome"] == "rescued"
    assert "worker lost: no heartbeat" in first["error"]
    assert second["outcome"] == "completed" and second["worker"] != lost_worker


def _assert_bucket_exact(bucket, clip_id: int) -> None:
    """Nothing lost (every row's object is there), nothing orphaned (no object that no row
    names), no unfinished multipart upload, one export object for the one render."""
    keys = bucket.keys()
    assert len(keys) == len(set(keys))
    assert set(keys) == referenced_names()
    assert bucket.unfinished() == [] and StoringFile.objects.count() == 0
    (export,) = Export.objects.filter(clip_id=clip_id)
    assert export.status == "completed"
    assert [k for k in keys if k.startswith("library/export/")] == [export.file.name]
