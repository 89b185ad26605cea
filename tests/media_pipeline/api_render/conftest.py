"""Library rows for the render/source/segment API tests: a tiny export preset (fast renders),
source videos and clips made with the ORM around real generated media."""

import json

import pytest
from django.core.files import File

from media_pipeline.library.models import (
    Clip,
    ClipContent,
    ExportPreset,
    Project,
    Segment,
    SourceVideo,
)
from media_pipeline.ops.probe import probe_media

API = "/api/v1/library"


def post_json(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def patch_json(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture(autouse=True)
def seeded_presets(db):
    """The rows of the data migration: a transactional test's flush removes them."""
    from media_pipeline.ops.presets import PRESETS

    for preset in PRESETS.values():
        fields = preset.as_dict()
        ExportPreset.objects.get_or_create(name=fields.pop("name"), defaults=fields)


@pytest.fixture
def tiny_preset(db):
    return ExportPreset.objects.create(
        name="tiny",
        label="Tiny",
        width=180,
        height=320,
        fps=15,
        crf=30,
        video_maxrate_kbps=500,
        audio_bitrate_kbps=64,
        x264_preset="ultrafast",
    )


def make_source(owner, path, name="source") -> SourceVideo:
    info = probe_media(path)
    video = SourceVideo(
        owner=owner,
        name=name,
        size=info.size_bytes,
        duration=info.duration,
        width=info.width,
        height=info.height,
        fps=info.fps,
        media_info=info.as_dict(),
    )
    with open(path, "rb") as fh:
        video.file.save("source.mp4", File(fh), save=False)
    video.save()
    return video


def make_clip(owner, path=None, **fields) -> Clip:
    project = Project.objects.create(owner=owner, name="Project")
    clip = Clip(project=project, variant_index=1, **fields)
    if path is not None:
        with open(path, "rb") as fh:
            clip.file.save("clip.mp4", File(fh), save=False)
    clip.save()
    return clip


@pytest.fixture
def source(user, media):
    return make_source(user, media.video(seconds=4))


@pytest.fixture
def clip(user, media):
    return make_clip(user, media.video(seconds=2))


@pytest.fixture
def segment(source):
    return Segment.objects.create(
        owner=source.owner, source_video=source, start=0.5, end=1.5, keywords=["București"]
    )


def add_content(clip, **fields) -> ClipContent:
    return ClipContent.objects.create(clip=clip, **fields)
