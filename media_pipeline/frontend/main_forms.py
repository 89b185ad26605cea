"""The main page's multipart forms (contract 4.1.1, 4.1.2, 4.1 `/tts/add-to-videos`) read into
job params: every flat field is parsed as the page sends it (numbers as decimal strings,
booleans as "true"/"false", objects as JSON strings) and mapped into the job type's params, or
refused with a 422 that names the form field. Nothing is replaced by a default.

Mapping (form field -> params of `process` / `multi_video`):
- `target_duration` (a finite number; "NaN" is a 422) -> `target_duration` / `max_duration`
  (the multi-video edit stops there).
- `variant_count` (integer 1-10) -> `variant_count`; a multi-video edit makes one video, so
  there it must be 1.
- `srt` (a UTF-8 file) -> `srt` (validated; normalised), burned in whatever `generate_audio`
  says (the prototype left subtitles out of silent variants: here nothing sent is left out).
- `subtitle_settings` (JSON) -> `subtitle_style`: fontSize, fontFamily (a CSS font stack too),
  textColor, outlineColor, outlineWidth, positionY (percent from the top) as they are;
  `position` must be "bottom" and `marginV` a number: the page always sends both beside
  `positionY`, which alone places the text (marginV is its preview's margin).
- `generate_audio` "true": `audio` -> the soundtrack (`replace_audio`, input `audio`), else
  `script_text` -> a voice-over spoken as the soundtrack (`voiceover.text`, the default TTS
  provider), else the source keeps its sound. "false": silent variants for triage (the source's
  own sound): an `audio` file is a 422 (it would be unused); `script_text` is kept with the job
  (`script_text`) for the voice-over the page adds later. With both `audio` and `script_text`,
  the file is the soundtrack and the script is kept.
- `mute_source_voice` "true" -> `voice_mute` with the default parameters; "false" -> none.
- `context_text` -> `context_text` (Gemini picks the segments with it when configured);
  a multi-video edit keeps the whole main video, so there it is a 422.
- `output_name` -> `output_name` (the variants are <output_name>_v<n>).
"""

import json
import math

from core.errors import Invalid
from jobs.errors import InvalidJobParams
from jobs.registry import get_job_type
from media_pipeline.library.api.inputs import audio_upload
from media_pipeline.library.clips import clip_content_checked
from media_pipeline.library.uploads import validate_media_upload

MAX_SRT_BYTES = 2 * 1024 * 1024
# Param (first element of its path) -> the form field it came from, for the 422 messages.
FIELD_OF = {
    "target_duration": "target_duration",
    "max_duration": "target_duration",
    "variant_count": "variant_count",
    "srt": "srt",
    "subtitle_style": "subtitle_settings",
    "voiceover": "script_text",
    "script_text": "script_text",
    "context_text": "context_text",
    "output_name": "output_name",
    "insert_duration": "secondary_segment_duration",
    "keywords": "secondary_keywords",
    "speech": "tts_text",
    "output_suffix": "output_suffix",
}


def flag(value: str, field: str) -> bool:
    """ "true"/"false" as the page sends booleans (1.4)."""
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise Invalid.field(field, f'\'{field}\' must be "true" or "false", not {value!r}')
    return text == "true"


def number(value: str, field: str, *, integer: bool = False) -> float | int:
    """A decimal string as the page sends numbers; NaN, infinities and words are a 422."""
    kind = "an integer" if integer else "a number"
    try:
        parsed = float(value.strip())
    except ValueError:
        raise Invalid.field(field, f"'{field}' must be {kind}, not {value!r}") from None
    if not math.isfinite(parsed):
        raise Invalid.field(field, f"'{field}' must be {kind}, not {value!r}")
    if integer:
        if parsed != int(parsed):
            raise Invalid.field(field, f"'{field}' must be {kind}, not {value!r}")
        return int(parsed)
    return parsed


def subtitle_style(raw: str) -> dict:
    """The page's subtitle settings as the `subtitle_style` param (see the module doc)."""
    try:
        settings_in = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid.field(
            "subtitle_settings", f"'subtitle_settings' is not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(settings_in, dict):
        raise Invalid.field("subtitle_settings", "'subtitle_settings' must be a JSON object")
    style = dict(settings_in)
    position = style.pop("position", "bottom")
    if position != "bottom":
        raise Invalid.field(
            "subtitle_settings.position",
            f"'subtitle_settings.position' must be \"bottom\", not {position!r}: "
            "'positionY' (percent from the top) places the subtitles",
        )
    margin = style.pop("marginV", 0)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin <= 2000:
        raise Invalid.field(
            "subtitle_settings.marginV",
            f"'subtitle_settings.marginV' must be a number of pixels (0-2000), not {margin!r}",
        )
    clip_content_checked(tts_text="", subtitle_settings=style)  # 422 naming the setting
    return style


def srt_text(upload) -> str:
    """The uploaded SRT's text, validated and normalised (422 naming `srt`)."""
    if upload.size > MAX_SRT_BYTES:
        raise Invalid.field("srt", f"'srt' is {upload.size} bytes; the limit is {MAX_SRT_BYTES}")
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid.field("srt", "'srt' is not UTF-8 text") from None
    if not text.strip():
        raise Invalid.field("srt", "'srt' is empty")
    return clip_content_checked(tts_text="", srt=text)["srt"]


def script(text: str | None) -> str | None:
    """The script, or None for a blank one (a voiced script's length is the TTS params' check,
    named `script_text` by `checked_params`)."""
    return text if text is not None and text.strip() else None


def common_params(form: dict, *, audio, srt) -> tuple[dict, dict]:
    """(params, inputs) from the fields POST /jobs and /jobs/multi-video share."""
    params: dict = {
        "subtitle_style": subtitle_style(form["subtitle_settings"]),
    }
    inputs: dict = {}
    if srt is not None:
        params["srt"] = srt_text(srt)
    if form.get("output_name") is not None:
        params["output_name"] = form["output_name"].strip()
    if flag(form["mute_source_voice"], "mute_source_voice"):
        params["voice_mute"] = {}
    text = script(form.get("script_text"))
    if flag(form["generate_audio"], "generate_audio"):
        if audio is not None:
            params["replace_audio"] = True
            inputs["audio"] = audio
            if text:
                params["script_text"] = text
        elif text:
            params["voiceover"] = {"text": text}
    else:
        if audio is not None:
            raise Invalid.field(
                "audio",
                "'generate_audio' is false (silent variants for triage), so 'audio' would be "
                "unused: set 'generate_audio' to true to use it, or leave the file out",
            )
        if text:
            params["script_text"] = text
    return params, inputs


def checked_params(job_type: str, params: dict):
    """The params validated against the job type, errors named by their form field."""
    try:
        return get_job_type(job_type).parse_params(params)
    except InvalidJobParams as exc:
        details, words = [], []
        for error in exc.details:
            loc = [str(part) for part in error.get("loc", [])[1:]]
            field = FIELD_OF.get(loc[0], loc[0]) if loc else "request"
            if field == "subtitle_settings" and len(loc) > 1:
                field = f"subtitle_settings.{loc[1]}"
            details.append({"field": field, "msg": error["msg"]})
            words.append(f"'{field}': {error['msg']}")
        raise Invalid("; ".join(words), details) from None


def checked_uploads(inputs: dict, **videos) -> dict:
    """Probe the uploads (a 4xx naming the field for an empty, oversized or non-media file), the
    cheap checks having passed; returns the job inputs by label."""
    for label, (field, upload) in videos.items():
        validate_media_upload(upload, field=field, need_video=True)
        inputs[label] = upload
    if "audio" in inputs:
        audio_upload(inputs["audio"])
    return inputs
