"""Services of the library's media: source videos, their segments, and clip exports.

API endpoints and job handlers call these. Files always go through the rows' FileFields
(`library_upload_to` names them), so no storage name is ever built from user input, and
deleting a row here deletes its files.
"""

from media_pipeline.library.media.exports import (
    clip_check_renderable,
    clip_recipe,
    clip_render_voiceover,
    clip_renders_start,
    clips_with_render_voiceover,
    export_create,
    export_for_job,
    export_latest,
    export_preset_default,
    export_preset_get,
    export_preset_set_default,
    export_render_changed,
    preset_from_row,
)
from media_pipeline.library.media.render_options import (
    RenderOptions,
    render_options_check,
    render_options_resolve,
)
from media_pipeline.library.media.segments import (
    clean_keywords,
    project_segments,
    project_segments_assign,
    segment_create,
    segment_delete,
    segment_extract_changed,
    segment_for_job,
    segment_list,
    segment_set_favorite,
    segment_update,
    segments_for_project,
    segments_matching_cues,
)
from media_pipeline.library.media.sources import (
    delete_file,
    local_path,
    source_video_create,
    source_video_delete,
    source_video_rename,
)

__all__ = [
    "RenderOptions",
    "clean_keywords",
    "clip_check_renderable",
    "clip_recipe",
    "clip_render_voiceover",
    "clip_renders_start",
    "clips_with_render_voiceover",
    "delete_file",
    "export_create",
    "export_for_job",
    "export_latest",
    "export_preset_default",
    "export_preset_get",
    "export_preset_set_default",
    "export_render_changed",
    "local_path",
    "preset_from_row",
    "render_options_check",
    "render_options_resolve",
    "project_segments",
    "project_segments_assign",
    "segment_create",
    "segment_delete",
    "segment_extract_changed",
    "segment_for_job",
    "segment_list",
    "segment_set_favorite",
    "segment_update",
    "segments_for_project",
    "segments_matching_cues",
    "source_video_create",
    "source_video_delete",
    "source_video_rename",
]
