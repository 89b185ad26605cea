"""Library API: text to speech, the providers' voices, and a voice-over mixed onto videos."""

import logging
from datetime import datetime
from typing import Any, Literal

import pydantic
from django.conf import settings
from ninja import File, Form, Query, Router, Schema
from ninja.files import UploadedFile

from core.apierrors import ApiError
from core.strict import idempotent_route
from jobs.schemas import ErrorOut
from media_pipeline.jobtypes.tts import MAX_VIDEOS, TtsParams
from media_pipeline.library.api.common import START_RESPONSES, start_job
from media_pipeline.library.api.inputs import (
    OPTIONS_HELP,
    PARAMS_HELP,
    audio_upload,
    callback,
    count_videos,
    job_options,
    job_params,
    video_list_input,
)
from media_pipeline.ops.tts.base import ProviderNotConfigured, ProviderUnavailable, TtsError
from media_pipeline.ops.tts.registry import list_voices

logger = logging.getLogger(__name__)
router = Router(tags=["audio"])
Provider = Literal["edge", "elevenlabs", "offline"]


class TtsRequest(TtsParams):
    """The `tts` job's params plus where to POST when it ends, and the job options."""

    callback_url: str | None = pydantic.Field(None, max_length=500)
    run_at: datetime | None = pydantic.Field(None, description="start no earlier (ISO 8601)")
    metadata: dict[str, Any] | None = pydantic.Field(None, description="your own JSON object")
    webhook_progress: bool = False


@router.post(
    "/audio/tts",
    response=START_RESPONSES,
    summary="Speech from text (a tts job)",
    description="JSON body: the `tts` params (`text`, `provider`, `voice`, `rate`, `max_pause`) "
    "and an optional `callback_url`. Outputs `audio`, and `srt` + `words` when the provider "
    f"gives word timings. {OPTIONS_HELP}",
)
@idempotent_route
def audio_tts(request, payload: TtsRequest):
    url = callback(payload.callback_url)
    options = job_options(
        run_at=payload.run_at,
        metadata=payload.metadata,
        webhook_progress=payload.webhook_progress,
        callback_url=url,
    )
    # params validated by ninja
    return start_job(request, "tts", params=payload, callback_url=url, options=options)


class VoiceOut(Schema):
    id: str
    name: str
    language: str
    gender: str | None = None


class VoicesOut(Schema):
    provider: str
    voices: list[VoiceOut]


class VoicesQuery(Schema):
    provider: Provider | None = pydantic.Field(
        None, description="edge, elevenlabs or offline (default: the server's default provider)"
    )
    language: str | None = pydantic.Field(
        None, max_length=20, description="only voices whose language starts with this, e.g. 'en'"
    )


@router.get(
    "/audio/voices",
    response={200: VoicesOut, 401: ErrorOut, 422: ErrorOut, 502: ErrorOut, 503: ErrorOut},
    summary="Voices of a TTS provider",
    description="edge and elevenlabs ask their service (503 when it is unreachable or not "
    "configured); offline lists the bundled eSpeak NG voices.",
)
def audio_voices(request, query: Query[VoicesQuery]):
    provider = query.provider or settings.TTS_DEFAULT_PROVIDER
    voices = _provider_voices(provider)
    if query.language:
        prefix = query.language.lower()
        voices = [v for v in voices if (v.get("language") or "").lower().startswith(prefix)]
    return {"provider": provider, "voices": voices}


def _provider_voices(provider: str) -> list[dict]:
    """The provider's voices; its failures as 502/503 (the client cannot fix them)."""
    try:
        return list_voices(provider)
    except ProviderUnavailable as exc:
        logger.warning("voices of %s unavailable: %s", provider, exc)
        raise ApiError(
            503, "provider_unavailable", str(exc), headers={"Retry-After": "30"}
        ) from None
    except ProviderNotConfigured as exc:
        raise ApiError(503, "provider_not_configured", str(exc)) from None
    except TtsError as exc:
        logger.warning("voices of %s failed: %s", provider, exc)
        raise ApiError(502, "provider_error", str(exc)) from None


@router.post(
    "/audio/add-to-videos",
    response=START_RESPONSES,
    summary="Mix a voice-over onto videos (an add_tts job)",
    description="Multipart: the voice-over as an `audio` upload; the videos as `files` "
    f"(uploads) or `source_video_ids` (your source videos), exactly one of the two, 1–{MAX_VIDEOS}"
    " videos (outputs `video_0`, `video_1`... in that order); optional `callback_url`. "
    f"Params: `duck_level` (`videos` is set from the count). {PARAMS_HELP} {OPTIONS_HELP}",
)
@idempotent_route
def audio_add_to_videos(
    request,
    audio: File[UploadedFile],
    files: File[list[UploadedFile]] = None,
    source_video_ids: Form[list[int]] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
    run_at: Form[datetime] = None,
    metadata: Form[str] = None,
    webhook_progress: Form[bool] = None,
):
    count = count_videos(
        files, source_video_ids, files_field="files", ids_field="source_video_ids", most=MAX_VIDEOS
    )
    parsed = job_params("add_tts", params, videos=count)
    if parsed.speech is not None:  # the upload is the voice-over here: never ignore one of them
        raise ApiError(
            422,
            "validation_error",
            "'params.speech' cannot be used here: the uploaded 'audio' is the voice-over",
            [{"field": "params.speech"}],
        )
    url = callback(callback_url)
    options = job_options(
        run_at=run_at, metadata=metadata, webhook_progress=webhook_progress, callback_url=url
    )
    inputs, shared = video_list_input(
        request,
        files,
        source_video_ids,
        files_field="files",
        labels=[f"video_{i}" for i in range(count)],
    )
    inputs = {**(inputs or {}), "audio": audio_upload(audio)}
    return start_job(
        request,
        "add_tts",
        params=parsed,
        inputs=inputs,
        shared_inputs=shared,
        callback_url=url,
        options=options,
    )
