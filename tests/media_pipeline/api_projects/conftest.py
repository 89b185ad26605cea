"""Fixtures of the project and clip API tests: rows made directly, with small stored files."""

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from media_pipeline.library.models import Clip, Project, Segment, SourceVideo
from media_pipeline.library.projects import project_refresh_counts

API = "/api/v1/library"


@pytest.fixture
def make_project(user):
    def make(owner=None, **fields):
        fields.setdefault("name", "Spring campaign")
        return Project.objects.create(owner=owner or user, **fields)

    return make


@pytest.fixture
def make_clip():
    def make(
        project, index=1, *, trashed=False, selected=False, data=b"0123456789" * 10, segments=None
    ):
        clip = Clip(
            project=project,
            variant_index=index,
            variant_name=f"Variant {index}",
            duration=2.0,
            segments=segments or [{"start": 0.0, "end": 2.0}],
            is_selected=selected,
            deleted_at=timezone.now() if trashed else None,
        )
        clip.file.save("clip.mp4", ContentFile(data), save=False)
        clip.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8jpeg"), save=False)
        clip.save()
        project_refresh_counts(project_id=project.id)
        return clip

    return make


@pytest.fixture
def make_source(user, media):
    def make(owner=None, *, seconds=3):
        video = SourceVideo(owner=owner or user, name="source.mp4", duration=seconds)
        with media.video(seconds=seconds).open("rb") as fh:
            video.file.save("source.mp4", ContentFile(fh.read()), save=False)
        video.save()
        return video

    return make


@pytest.fixture
def make_segment():
    def make(source, start, end, score=0.5):
        return Segment.objects.create(
            owner=source.owner, source_video=source, start=start, end=end, score=score
        )

    return make
