"""Library admin: projects, source videos, segments, clips, exports and export presets.

Media is shown through a staff-only streaming view (`<id>/media/<field>/`, Range support for
seeking) rather than MEDIA_URL, so library files are never served without an admin login.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from core.downloads import stream_stored_file
from media_pipeline.library import media as library_media
from media_pipeline.library.models import (
    Clip,
    ClipContent,
    Export,
    ExportPreset,
    Project,
    Segment,
    SourceVideo,
)


class MediaStreamMixin:
    """Adds `<id>/media/<field>/` streaming the named FileField; only fields listed in
    `media_fields` can be asked for, so the URL never names an arbitrary path."""

    media_fields: tuple[str, ...] = ()

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/media/<str:field>/",
                self.admin_site.admin_view(self.media_view),
                name=f"{prefix}_media",
            ),
            *super().get_urls(),
        ]

    def media_view(self, request, object_id, field):
        if field not in self.media_fields:
            raise Http404("no such media field")
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("no such object")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        fieldfile = getattr(obj, field)
        if not fieldfile or not default_storage.exists(fieldfile.name):
            raise Http404("no file stored")
        return stream_stored_file(request, name=fieldfile.name)

    def media_url(self, obj, field: str) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_media", args=[obj.pk, field]
        )

    def player(self, obj, field: str = "file", *, width: int = 480):
        if not obj or not getattr(obj, field):
            return "–"
        return format_html(
            '<video class="ef-player" controls preload="metadata" width="{}" src="{}"></video>',
            width,
            self.media_url(obj, field),
        )

    def thumb(self, obj, field: str = "thumbnail", *, height: int = 60):
        if not obj or not getattr(obj, field):
            return "–"
        return format_html(
            '<img class="ef-thumb" src="{}" height="{}" alt="thumbnail">',
            self.media_url(obj, field),
            height,
        )


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "status",
        "variants_count",
        "selected_count",
        "exported_count",
        "created_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("name", "owner__username", "description")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "source_video", "current_job")
    readonly_fields = ("created_at", "updated_at")


@admin.register(SourceVideo)
class SourceVideoAdmin(MediaStreamMixin, admin.ModelAdmin):
    media_fields = ("file", "thumbnail")
    list_display = ("thumbnail_preview", "name", "owner", "resolution", "duration", "size_display")
    list_display_links = ("thumbnail_preview", "name")
    search_fields = ("name", "owner__username")
    list_filter = ("created_at",)
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("video_player", "thumbnail_preview", "size", "created_at")
    fields = (
        "video_player",
        "thumbnail_preview",
        "owner",
        "name",
        "file",
        "thumbnail",
        "size",
        "duration",
        "width",
        "height",
        "fps",
        "media_info",
        "created_at",
    )

    @admin.display(description="thumbnail")
    def thumbnail_preview(self, obj):
        return self.thumb(obj)

    @admin.display(description="video")
    def video_player(self, obj):
        return self.player(obj)

    @admin.display(description="resolution")
    def resolution(self, obj):
        return f"{obj.width}x{obj.height}" if obj.width and obj.height else "–"

    @admin.display(description="size", ordering="size")
    def size_display(self, obj):
        return filesizeformat(obj.size)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "source_video",
        "owner",
        "start",
        "end",
        "score",
        "favorite",
        "usage_count",
    )
    list_filter = ("favorite",)
    search_fields = ("source_video__name", "owner__username", "notes")
    list_select_related = ("source_video", "owner")
    raw_id_fields = ("owner", "source_video")


class ClipContentInline(admin.StackedInline):
    model = ClipContent
    extra = 0


@admin.register(Clip)
class ClipAdmin(MediaStreamMixin, admin.ModelAdmin):
    media_fields = ("file", "thumbnail")
    list_display = (
        "__str__",
        "project",
        "variant_index",
        "variant_name",
        "duration",
        "is_selected",
        "final_status",
        "in_trash_display",
    )
    list_filter = ("final_status", "is_selected", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("project__name", "variant_name", "project__owner__username")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    readonly_fields = ("preview", "created_at", "updated_at")
    inlines = [ClipContentInline]

    @admin.display(description="preview")
    def preview(self, obj):
        return self.player(obj, width=320)

    @admin.display(description="in trash", boolean=True)
    def in_trash_display(self, obj):
        return obj.in_trash


@admin.register(Export)
class ExportAdmin(MediaStreamMixin, admin.ModelAdmin):
    media_fields = ("file",)
    list_display = ("__str__", "clip", "preset", "status", "size_display", "job", "created_at")
    list_filter = ("status", "preset")
    search_fields = ("clip__project__name", "preset__name")
    list_select_related = ("clip", "preset", "job")
    raw_id_fields = ("clip", "job")
    # The options are what the render was asked with: a record, not a setting to edit.
    readonly_fields = ("preview", "size", "options", "created_at", "completed_at")

    @admin.display(description="preview")
    def preview(self, obj):
        return self.player(obj, width=320)

    @admin.display(description="size", ordering="size")
    def size_display(self, obj):
        return filesizeformat(obj.size)


@admin.register(ExportPreset)
class ExportPresetAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "label",
        "width",
        "height",
        "fps",
        "crf",
        "video_maxrate_kbps",
        "karaoke",
        "sync",
        "audio_mode",
        "is_active",
        "is_default",
    )
    list_editable = ("is_active",)
    list_filter = ("is_active", "karaoke", "sync", "audio_mode")
    search_fields = ("name", "label")
    # One default at most: the mark moves with the action, never by editing two rows.
    readonly_fields = ("is_default",)
    actions = ("make_default",)

    @admin.action(description="Make the selected preset the default", permissions=["change"])
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one preset.", level=messages.ERROR)
            return
        preset = library_media.export_preset_set_default(preset=queryset.get())
        self.message_user(request, f"{preset.label} is now the default preset.")
