"""The library admin: every page renders for staff, media streams only to staff, presets edit."""

import io

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from PIL import Image

from media_pipeline.library.models import (
    Clip,
    ClipContent,
    Export,
    ExportPreset,
    Project,
    Segment,
    SourceVideo,
)

pytestmark = pytest.mark.django_db


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def library(user, media):
    video_path = media.video(seconds=1)
    source = SourceVideo(owner=user, name="beach.mp4", width=320, height=240, duration=1.0)
    with video_path.open("rb") as fh:
        source.file.save("beach.mp4", File(fh), save=False)
    source.thumbnail.save("thumb.png", ContentFile(png_bytes()), save=False)
    source.size = source.file.size
    source.save()
    project = Project.objects.create(owner=user, name="Summer", source_video=source)
    segment = Segment.objects.create(owner=user, source_video=source, start=0, end=0.5)
    clip = Clip(project=project, variant_index=1, variant_name="v1", duration=1.0)
    with video_path.open("rb") as fh:
        clip.file.save("clip.mp4", File(fh), save=False)
    clip.save()
    ClipContent.objects.create(clip=clip, tts_text="hello")
    preset = ExportPreset.objects.create(
        name="test-vertical", label="Test vertical", width=1080, height=1920, fps=30, crf=23,
        video_maxrate_kbps=8000,
    )  # fmt: skip
    export = Export(clip=clip, preset=preset, status=Export.Status.COMPLETED)
    with video_path.open("rb") as fh:
        export.file.save("export.mp4", File(fh), save=False)
    export.save()
    return {
        "sourcevideo": source, "project": project, "segment": segment, "clip": clip,
        "export": export, "exportpreset": preset, "video_bytes": video_path.read_bytes(),
    }  # fmt: skip


MODELS = ["project", "sourcevideo", "segment", "clip", "export", "exportpreset"]


@pytest.mark.parametrize("model", MODELS)
def test_library_pages_render_for_staff(staff_client, library, model):
    obj = library[model]
    listing = staff_client.get(reverse(f"admin:media_pipeline_{model}_changelist"))
    assert listing.status_code == 200 and obj in listing.context["cl"].result_list
    searched = staff_client.get(reverse(f"admin:media_pipeline_{model}_changelist"), {"q": "zzz"})
    assert searched.status_code == 200 and searched.context["cl"].result_count == 0
    assert (
        staff_client.get(reverse(f"admin:media_pipeline_{model}_change", args=[obj.pk])).status_code
        == 200
    )


def test_source_video_shows_thumbnail_and_player_streamed_to_staff(staff_client, library):
    source = library["sourcevideo"]
    page = staff_client.get(reverse("admin:media_pipeline_sourcevideo_change", args=[source.pk]))
    html = page.content.decode()
    video_url = reverse("admin:media_pipeline_sourcevideo_media", args=[source.pk, "file"])
    thumb_url = reverse("admin:media_pipeline_sourcevideo_media", args=[source.pk, "thumbnail"])
    assert (
        f'<video class="ef-player" controls preload="metadata" width="480" src="{video_url}">'
        in html
    )
    assert f'src="{thumb_url}"' in html
    listing = staff_client.get(
        reverse("admin:media_pipeline_sourcevideo_changelist")
    ).content.decode()
    assert f'src="{thumb_url}"' in listing
    video = staff_client.get(video_url)
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert b"".join(video.streaming_content) == library["video_bytes"]
    ranged = staff_client.get(video_url, HTTP_RANGE="bytes=0-9")
    assert (
        ranged.status_code == 206
        and b"".join(ranged.streaming_content) == library["video_bytes"][:10]
    )
    thumb = staff_client.get(thumb_url)
    assert thumb["Content-Type"] == "image/png" and b"".join(thumb.streaming_content) == png_bytes()
    # only the listed FileFields can be asked for
    assert (
        staff_client.get(
            reverse("admin:media_pipeline_sourcevideo_media", args=[source.pk, "name"])
        ).status_code
        == 404
    )
    assert (
        staff_client.get(
            reverse("admin:media_pipeline_sourcevideo_media", args=[999999, "file"])
        ).status_code
        == 404
    )


def test_clip_and_export_previews(staff_client, library):
    clip, export = library["clip"], library["export"]
    html = staff_client.get(
        reverse("admin:media_pipeline_clip_change", args=[clip.pk])
    ).content.decode()
    clip_url = reverse("admin:media_pipeline_clip_media", args=[clip.pk, "file"])
    assert f'src="{clip_url}"' in html and "<video" in html
    assert b"".join(staff_client.get(clip_url).streaming_content) == library["video_bytes"]
    export_url = reverse("admin:media_pipeline_export_media", args=[export.pk, "file"])
    html = staff_client.get(
        reverse("admin:media_pipeline_export_change", args=[export.pk])
    ).content.decode()
    assert f'src="{export_url}"' in html
    assert (
        staff_client.get(
            reverse("admin:media_pipeline_clip_media", args=[clip.pk, "thumbnail"])
        ).status_code
        == 404
    )


def test_media_is_never_served_to_non_staff(client, user, library):
    url = reverse(
        "admin:media_pipeline_sourcevideo_media", args=[library["sourcevideo"].pk, "file"]
    )
    client.force_login(user)
    for who in (Client(), client):
        response = who.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
        assert who.get(reverse("admin:media_pipeline_project_changelist")).status_code == 302


def test_export_presets_are_editable(staff_client, library):
    preset = library["exportpreset"]
    url = reverse("admin:media_pipeline_exportpreset_change", args=[preset.pk])
    form = {
        "name": preset.name, "label": "Renamed", "width": 720, "height": 1280, "fps": 30,
        "crf": 20, "video_maxrate_kbps": 5000, "audio_bitrate_kbps": 160, "x264_preset": "fast",
        "loudness_lufs": -14, "true_peak_db": -1, "is_active": "on",
        "karaoke": "on", "sync": "keep", "audio_mode": "replace", "duck_level": 0.25,
    }  # fmt: skip
    assert staff_client.post(url, form).status_code == 302
    preset.refresh_from_db()
    assert (preset.label, preset.width, preset.crf) == ("Renamed", 720, 20)
    assert (preset.karaoke, preset.sync, preset.audio_mode, preset.duck_level) == (
        True,
        "keep",
        "replace",
        0.25,
    )
    for field, value in (("crf", 99), ("sync", "stretch"), ("audio_mode", "x"), ("duck_level", 2)):
        bad = staff_client.post(url, {**form, field: value})
        assert bad.status_code == 200 and field in bad.context["adminform"].form.errors


def test_the_default_preset_moves_with_the_admin_action(staff_client, library):
    preset = library["exportpreset"]
    other = ExportPreset.objects.create(
        name="other", label="Other", width=720, height=1280, fps=30, crf=23,
        video_maxrate_kbps=4000,
    )  # fmt: skip
    ExportPreset.objects.update(is_default=False)
    other.is_default = True
    other.save()
    with pytest.raises(IntegrityError), transaction.atomic():  # one default at most
        ExportPreset.objects.filter(pk=preset.pk).update(is_default=True)
    changelist = reverse("admin:media_pipeline_exportpreset_changelist")
    action = {"action": "make_default", "_selected_action": [preset.pk]}
    assert staff_client.post(changelist, action).status_code == 302
    assert list(ExportPreset.objects.filter(is_default=True)) == [preset]
    other.refresh_from_db()
    assert not other.is_default
    both = {"action": "make_default", "_selected_action": [preset.pk, other.pk]}
    staff_client.post(changelist, both)
    assert list(ExportPreset.objects.filter(is_default=True)) == [preset]  # one at a time
