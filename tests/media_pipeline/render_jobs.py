"""render_clip through the engine and a real (burst) worker, for the tests of its output."""

from pathlib import Path

from django.core.files import File

from jobs import services
from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from tests.conftest import run_burst_worker
from tests.stored import stored_path


def run_render_clip(user, source: Path, **params) -> Job:
    """A render_clip job of `source` with `params`, run to its end; the refreshed row."""
    with open(source, "rb") as fh:
        job = services.job_create(
            job_type="render_clip",
            params=params,
            owner=user,
            inputs={"source": File(fh, name=Path(source).name)},
        )
    run_burst_worker()
    job.refresh_from_db()
    return job


def output_path(job: Job, label: str = "video") -> str:
    return stored_path(job.files.get(label=label).name)


def rendered_video(user, source: Path, **params) -> str:
    """The path of the video of a render that must complete."""
    job = run_render_clip(user, source, **params)
    assert job.status == JobStatus.COMPLETED, job.error
    return output_path(job)


DARK_BACKGROUND = "0x404040"  # luma 64: white text above it, black outline below it


def dark_vertical_clip(path: Path, *, seconds: int, fps: int) -> Path:
    """Uniform dark grey in 9:16 (nothing cropped) with a quiet tone: captions stand out."""
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"color=c={DARK_BACKGROUND}:s=180x320:r={fps}:d={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", str(path)],
    )  # fmt: skip
    return path
