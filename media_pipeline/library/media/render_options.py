"""A clip render's options: karaoke, the sync policy, the audio mode (and its ducking level) and a
subtitle style override, asked by a render request (single or bulk) or taken from its export
preset.

Each option is the request's value, else the preset's (`ExportPreset.karaoke`, `sync`,
`audio_mode`, `duck_level`). The subtitle style is the clip content's `subtitle_settings` with the
request's `subtitle_style` fields on top (only the fields the request gives). What was decided is
stored on the Export (`options`) when the render starts, so editing the preset later does not
change a render already asked for; the clip's content is read when the render runs.
"""

import pydantic

from core.errors import Invalid
from media_pipeline.library.models import Clip, ClipContent, ExportPreset, RenderAudio, RenderSync
from media_pipeline.ops.subtitles import SubtitleStyle

OPTION_FIELDS = ("karaoke", "sync", "audio_mode", "duck_level")


class RenderOptions(pydantic.BaseModel):
    """A render request's options; a field left out (or null) takes the export preset's."""

    model_config = pydantic.ConfigDict(extra="forbid")

    karaoke: bool | None = pydantic.Field(
        None,
        description="light each caption word as the voice-over speaks it (needs a voice-over: "
        "the clip content's tts_text); default: the preset's",
    )
    sync: RenderSync | None = pydantic.Field(
        None,
        description="how long the render runs against the voice-over: 'loop' its length (the "
        "clip cut, or repeated to reach it), 'trim' its length but never past the clip's end, "
        "'keep' the clip's length (the voice-over cut at the clip's end); default: the preset's",
    )
    audio_mode: RenderAudio | None = pydantic.Field(
        None,
        description="'duck' the voice-over over the clip's sound lowered to duck_level, 'keep' "
        "the clip's sound only, 'replace' the voice-over only; default: the preset's",
    )
    duck_level: float | None = pydantic.Field(
        None,
        ge=0,
        le=1,
        description="duck mode: the clip's sound as a gain 0-1; default: the preset's",
    )
    subtitle_style: SubtitleStyle | None = pydantic.Field(
        None,
        description="for this render only, the fields given replace the clip content's subtitle "
        "settings (fields left out keep the clip's)",
    )


def render_options_resolve(*, asked: RenderOptions | None, preset: ExportPreset) -> dict:
    """What an Export stores: every option decided (the request's, else the preset's) and the
    subtitle style fields the request gave."""
    asked = asked or RenderOptions()
    options = {}
    for name in OPTION_FIELDS:
        value = getattr(asked, name)
        options[name] = getattr(preset, name) if value is None else value
    options["sync"] = RenderSync(options["sync"]).value
    options["audio_mode"] = RenderAudio(options["audio_mode"]).value
    style = asked.subtitle_style
    options["subtitle_style"] = (
        style.model_dump(mode="json", exclude_unset=True) if style is not None else {}
    )
    return options


def render_options_check(*, clip: Clip, asked: RenderOptions | None) -> None:
    """422 naming the field for an option the clip cannot honour: karaoke asked for explicitly
    on a clip with no voice-over text (a preset's karaoke is simply not applied there; the
    render's result says so)."""
    if asked is None or not asked.karaoke:
        return
    content = ClipContent.objects.filter(clip=clip).first()
    if content is None or not content.tts_text.strip():
        message = (
            f"'karaoke': clip {clip.id} has no voice-over text (its content's tts_text is empty); "
            "karaoke lights each caption word as the voice-over speaks it"
        )
        raise Invalid(message, [{"field": "karaoke", "clip_id": clip.id, "msg": message}])


def recipe_fields(*, options: dict | None, content_style: dict | None) -> dict:
    """The ClipRecipe fields of an Export's stored options over the clip content's style.
    An export made before options existed (`{}`) renders as renders did then."""
    options = options or {}
    fields = {name: options[name] for name in OPTION_FIELDS if name in options}
    fields["subtitle_style"] = {**(content_style or {}), **options.get("subtitle_style", {})}
    return fields
