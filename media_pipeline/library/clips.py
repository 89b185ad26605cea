"""Services of a clip's content and its audio removal, shared by the v1 endpoints and the web
frontend's routes: what content may be stored, and starting a `clip_remove_audio` job."""

import pydantic
from django.conf import settings

from core.errors import Conflict, DomainError, Invalid
from jobs.models import Job
from media_pipeline.library.models import Clip
from media_pipeline.library.projects import clip_audio_removal_running
from media_pipeline.library.starts import job_start
from media_pipeline.ops.srt_validation import validate_srt
from media_pipeline.ops.subtitles import SubtitleStyle
from media_pipeline.ops.tts.registry import provider_names


class InvalidSrt(DomainError):
    """SRT that does not validate; `details` holds the cue-level findings."""

    code = "invalid_srt"


def clip_content_checked(
    *,
    tts_text: str,
    tts_provider: str = "",
    voice: str = "",
    srt: str = "",
    subtitle_settings: dict | None = None,
    srt_field: str = "srt",
) -> dict:
    """The content to store (`clip_content_set`'s fields), or an error naming the field: TTS text
    length, provider, SRT (stored normalised: LF line ends, cues numbered from 1; 422
    `invalid_srt` with the cue-level findings), subtitle style (checked against SubtitleStyle and
    stored as given, so a client gets back exactly the settings it sent, a CSS font stack too).
    `srt_field` is the caller's name of the SRT field, for the messages."""
    if len(tts_text) > settings.TTS_MAX_CHARS:
        raise Invalid.field(
            "tts_text",
            f"tts_text is {len(tts_text)} characters; the limit is {settings.TTS_MAX_CHARS}",
        )
    if tts_provider and tts_provider not in provider_names():
        known = ", ".join(provider_names())
        raise Invalid.field(
            "tts_provider", f"unknown tts_provider '{tts_provider}' (known: {known})"
        )
    srt_text = ""
    if srt.strip():
        checked = validate_srt(srt)
        if not checked.ok:
            raise InvalidSrt(f"'{srt_field}': {checked.summary()}", checked.as_dict())
        srt_text = checked.text
    if subtitle_settings:
        try:
            SubtitleStyle.model_validate(subtitle_settings)
        except pydantic.ValidationError as exc:
            raise _invalid_style(exc) from None
    return {
        "tts_text": tts_text,
        "tts_provider": tts_provider,
        "voice": voice,
        "srt": srt_text,
        "subtitle_settings": dict(subtitle_settings or {}),
    }


def _invalid_style(exc: pydantic.ValidationError) -> Invalid:
    details = [
        {
            "field": ".".join(["subtitle_settings", *map(str, e["loc"])]),
            "msg": e["msg"],
        }
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    words = "; ".join(f"'{d['field']}': {d['msg']}" for d in details)
    return Invalid(f"invalid subtitle settings: {words}", details)


def clip_remove_audio_start(*, owner, clip: Clip) -> Job:
    """A `clip_remove_audio` job for the clip (its silent copy becomes the clip's file when the
    job completes); 409 for a clip in the trash, without a file, or already losing its audio."""
    if clip.in_trash:
        raise Conflict(f"clip {clip.id} is in the trash: restore it first")
    if not clip.file:
        raise Conflict(f"clip {clip.id} has no video file yet")
    if clip_audio_removal_running(clip=clip):  # both would swap the same file
        raise Conflict(f"the audio of clip {clip.id} is already being removed")
    return job_start(
        owner=owner,
        job_type="clip_remove_audio",
        params={"clip_id": clip.id},
        shared_inputs={"source": clip.file.name},
    )
