"""The library: projects, source videos, segments, clips, their content, export presets, exports.

Every row belongs to a user (directly or through its parent); the API only shows a user their own.
Media files are owned by these rows and stored through Django's storage under `library/`,
named by the server (`library_upload_to`), never from user input. Jobs that produce library
media copy their results here, so job retention cleanup never removes a clip's file.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from core.files import safe_suffix
from core.querysets import OwnedQuerySet
from media_pipeline.ops.render import AudioMode, SyncMode


def library_upload_to(instance, filename: str) -> str:
    """library/<kind>/<uuid><suffix>: only the suffix comes from the given name, and only if sane."""
    return library_name(type(instance).__name__.lower(), safe_suffix(filename))


def library_name(kind: str, suffix: str) -> str:
    """A fresh storage name for a library file of `kind` (a model's name in lower case)."""
    return f"library/{kind}/{uuid.uuid4().hex}{suffix}"


class Project(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        GENERATING = "generating", "Generating"
        READY_FOR_TRIAGE = "ready_for_triage", "Ready for triage"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    target_duration = models.FloatField(
        default=20, validators=[MinValueValidator(2), MaxValueValidator(600)]
    )
    context_text = models.TextField(blank=True, default="")
    source_video = models.ForeignKey(
        "SourceVideo", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    variants_count = models.PositiveIntegerField(default=0)
    selected_count = models.PositiveIntegerField(default=0)
    exported_count = models.PositiveIntegerField(default=0)
    current_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # GET /library/projects?status=...: a user's projects, newest first
            models.Index(fields=["owner", "status", "-created_at"], name="project_owner_status"),
        ]

    def __str__(self):
        return self.name


class SourceVideo(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_videos"
    )
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to=library_upload_to, max_length=500)
    thumbnail = models.FileField(upload_to=library_upload_to, max_length=500, blank=True)
    size = models.BigIntegerField(default=0)
    duration = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    media_info = models.JSONField(default=dict, blank=True, help_text="probe result")
    created_at = models.DateTimeField(default=timezone.now)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # GET /library/source-videos: a user's videos, newest first
            models.Index(fields=["owner", "-created_at"], name="source_owner_created"),
        ]

    def __str__(self):
        return self.name


class Segment(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="segments"
    )
    source_video = models.ForeignKey(SourceVideo, on_delete=models.CASCADE, related_name="segments")
    start = models.FloatField(validators=[MinValueValidator(0)])
    end = models.FloatField(validators=[MinValueValidator(0)])
    keywords = models.JSONField(default=list, blank=True)
    score = models.FloatField(null=True, blank=True)
    favorite = models.BooleanField(default=False)
    notes = models.TextField(blank=True, default="")
    usage_count = models.PositiveIntegerField(
        default=0, help_text="clips using it; kept by the services that assign and release it"
    )
    extracted_file = models.FileField(upload_to=library_upload_to, max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["source_video_id", "start"]
        indexes = [
            # GET /library/segments?source=...: a user's segments of one source, in time order
            models.Index(fields=["owner", "source_video", "start"], name="segment_owner_source"),
            # GET /library/segments?favorites=true
            models.Index(fields=["owner", "favorite"], name="segment_owner_favorite"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="segment_end_after_start"
            )
        ]

    def __str__(self):
        return f"{self.source_video_id} {self.start:.2f}-{self.end:.2f}"

    @property
    def duration(self) -> float:
        return self.end - self.start


class ProjectSegment(models.Model):
    """A segment assigned to a project, in the order the user chose: what the project's
    generation from segments uses when it is given no segment ids."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="assignments")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["project_id", "position"]
        constraints = [
            # also the index of "a project's segments in order"
            models.UniqueConstraint(
                fields=["project", "position"], name="project_segment_position"
            ),
            models.UniqueConstraint(fields=["project", "segment"], name="project_segment_once"),
        ]

    def __str__(self):
        return f"{self.project_id} #{self.position}: {self.segment_id}"


class ClipQuerySet(OwnedQuerySet):
    def for_owner(self, user):
        return self.filter(project__owner=user)

    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def trashed(self):
        return self.filter(deleted_at__isnull=False)


class Clip(models.Model):
    class RenderStatus(models.TextChoices):
        NONE = "none", "Not rendered"
        RENDERING = "rendering", "Rendering"
        RENDERED = "rendered", "Rendered"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clips")
    variant_index = models.PositiveIntegerField()
    variant_name = models.CharField(max_length=100, blank=True, default="")
    file = models.FileField(upload_to=library_upload_to, max_length=500, blank=True)
    thumbnail = models.FileField(upload_to=library_upload_to, max_length=500, blank=True)
    duration = models.FloatField(null=True, blank=True)
    segments = models.JSONField(default=list, blank=True, help_text="[{start, end}] of the source")
    is_selected = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="set while in the trash")
    final_status = models.CharField(
        max_length=20, choices=RenderStatus.choices, default=RenderStatus.NONE
    )
    has_audio = models.BooleanField(
        null=True,
        blank=True,
        help_text="whether its current file has sound (its source had audio, and the audio was "
        "not removed); empty: not known (clips made before this was recorded)",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClipQuerySet.as_manager()

    class Meta:
        ordering = ["project_id", "variant_index"]
        indexes = [
            # GET /library/projects/{id}/clips: a project's live clips in variant order
            models.Index(fields=["project", "deleted_at", "variant_index"], name="clip_project"),
        ]

    def __str__(self):
        return f"{self.project_id} #{self.variant_index}"

    @property
    def in_trash(self) -> bool:
        return self.deleted_at is not None


class ClipContent(models.Model):
    """What a clip says: TTS text and voice, SRT, subtitle style (validated by the API)."""

    clip = models.OneToOneField(Clip, on_delete=models.CASCADE, related_name="content")
    tts_text = models.TextField(blank=True, default="")
    tts_provider = models.CharField(max_length=20, blank=True, default="")
    voice = models.CharField(max_length=100, blank=True, default="")
    srt = models.TextField(blank=True, default="")
    subtitle_settings = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"content of {self.clip_id}"


class RenderSync(models.TextChoices):
    """How long a render runs against the clip's voice-over (the job type's `SyncMode` values;
    without a voice-over every policy keeps the clip's length)."""

    LOOP = SyncMode.LOOP.value, "loop: the voice-over's length (the clip cut, or repeated)"
    TRIM = SyncMode.TRIM.value, "trim: the voice-over's length, never past the clip's end"
    KEEP = SyncMode.KEEP.value, "keep: the clip's length (the voice-over cut at its end)"


class RenderAudio(models.TextChoices):
    """What a render's audio is (the job type's `AudioMode` values)."""

    DUCK = AudioMode.DUCK.value, "duck: the voice-over over the clip's sound, lowered"
    KEEP = AudioMode.KEEP.value, "keep: the clip's own sound only"
    REPLACE = AudioMode.REPLACE.value, "replace: the voice-over only (silence without one)"


class ExportPreset(models.Model):
    """A platform format; seeded from media_pipeline.ops.presets by a data migration, editable.
    It also holds the render options a render in it uses unless the request names its own."""

    name = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    width = models.PositiveIntegerField(validators=[MinValueValidator(16), MaxValueValidator(4096)])
    height = models.PositiveIntegerField(
        validators=[MinValueValidator(16), MaxValueValidator(4096)]
    )
    fps = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(120)])
    crf = models.PositiveIntegerField(validators=[MaxValueValidator(51)])
    video_maxrate_kbps = models.PositiveIntegerField()
    audio_bitrate_kbps = models.PositiveIntegerField(default=192)
    x264_preset = models.CharField(max_length=20, default="medium")
    loudness_lufs = models.FloatField(default=-14.0)
    true_peak_db = models.FloatField(default=-1.0)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False,
        help_text="the preset a render uses when none is named (one at most; "
        "none marked: instagram_reels)",
    )
    # Render options: what a render in this preset does unless its request says otherwise.
    karaoke = models.BooleanField(
        default=False,
        help_text="light each caption word as the voice-over speaks it (clips with a voice-over)",
    )
    sync = models.CharField(
        max_length=10,
        choices=RenderSync.choices,
        default=RenderSync.LOOP,
        help_text="how long the render runs against the voice-over",
    )
    audio_mode = models.CharField(
        max_length=10, choices=RenderAudio.choices, default=RenderAudio.DUCK
    )
    duck_level = models.FloatField(
        default=0.15,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="duck mode: the clip's sound under the voice-over, as a gain (0-1)",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="exportpreset_one_default",
            )
        ]

    def __str__(self):
        return self.label


class Export(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="exports")
    preset = models.ForeignKey(ExportPreset, on_delete=models.PROTECT, related_name="exports")
    file = models.FileField(upload_to=library_upload_to, max_length=500, blank=True)
    size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="the render options it was asked with, the preset's filled in (karaoke, "
        "sync, audio_mode, duck_level, subtitle_style: the fields overriding the clip's)",
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # the latest export of a clip (render progress, download)
            models.Index(fields=["clip", "-created_at"], name="export_clip_latest"),
        ]

    def __str__(self):
        return f"{self.clip_id} {self.preset_id} ({self.status})"
