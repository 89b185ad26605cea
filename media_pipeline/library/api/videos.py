"""Library API: jobs on one video (info, voice, analysis, variants) and the multi-video edit.

Every endpoint takes multipart form data: the video as an upload `file` OR `source_video_id` (one
of your library source videos, read in place), the job's `params` as one JSON form field, an
optional `callback_url` and the job options (`run_at`, `metadata`, `webhook_progress`). It
answers 202 {job_id, status, status_url, events_url, scheduled_for} (200 for a repeated
Idempotency-Key).
"""

import inspect
from dataclasses import dataclass
from datetime import datetime

from ninja import File, Form, Router
from ninja.files import UploadedFile

from core.apierrors import ApiError
from core.strict import idempotent_route
from media_pipeline.library.api.common import START_RESPONSES, start_job, video_input
from media_pipeline.library.api.inputs import (
    OPTIONS_HELP,
    PARAMS_HELP,
    audio_upload,
    callback,
    count_videos,
    job_options,
    job_params,
    merge,
    video_list_input,
)

router = Router(tags=["videos"])
RESPONSES = START_RESPONSES
MAX_SECONDARIES = 3
SOURCE_HELP = (
    "Multipart: the video as an upload `file` or `source_video_id` (one of your source videos), "
    "exactly one of the two; optional `callback_url` (http/https) POSTed when the job ends."
)


def _describe(what: str, job_type: str) -> str:
    return f"{what} Starts a `{job_type}` job. {SOURCE_HELP} {PARAMS_HELP} {OPTIONS_HELP}"


@dataclass(frozen=True)
class VideoJob:
    """A single-video endpoint, POST /videos/<path>: one video in, one `job_type` job out."""

    path: str
    job_type: str
    name: str  # the view's name, hence its OpenAPI operationId
    summary: str
    what: str  # the description's first sentence: what the job does, its params
    takes_params: bool = True  # a `params` form field
    need_video: bool = True  # False: an audio-only file will do
    audio_implies: str | None = None  # an optional `audio` upload, which sets this param true


VIDEO_JOBS = (
    VideoJob(
        "info",
        "probe",
        "video_info",
        "Media info of a video (a probe job)",
        "Duration, size, rotation, codecs of any audio or video.",
        takes_params=False,
        need_video=False,
    ),
    VideoJob(
        "detect-voice",
        "detect_voice",
        "video_detect_voice",
        "Speech intervals of a video or audio file (a detect_voice job)",
        "Params: `threshold`, `min_speech_ms`, `min_silence_ms`, `merge_gap_ms`, `padding_ms`.",
        need_video=False,
    ),
    VideoJob(
        "mute-voice",
        "mute_voice",
        "video_mute_voice",
        "Lower the speech of a video or audio file (a mute_voice job)",
        "Params: `keep_percentage`, `fade_ms` and the detection params.",
        need_video=False,
    ),
    VideoJob(
        "analyze",
        "analyze",
        "video_analyze",
        "Scored segments of a video (an analyze job)",
        "Params: `target_duration`, `provider` (local/gemini), `context_text`, "
        "`fallback_to_local`, `sample_fps`, `window_overlap`, `thresholds`.",
    ),
    VideoJob(
        "process",
        "process",
        "video_process",
        "Clip variants of a video (a process job)",
        "Params: `variant_count`, `target_duration`, `srt`, `subtitle_style`, `voice_mute`, "
        "`replace_audio`, `voiceover` (a script spoken as the soundtrack), `context_text` "
        "(Gemini picks the segments when configured), `output_name`, `script_text` (kept). "
        "An optional `audio` upload becomes the soundtrack (`replace_audio` "
        "is then implied; `replace_audio: true` without it is a 422).",
        audio_implies="replace_audio",
    ),
)


def _one_video_job(
    request,
    spec: VideoJob,
    *,
    file,
    source_video_id,
    audio=None,
    params=None,
    callback_url,
    run_at=None,
    metadata=None,
    webhook_progress=None,
):
    """The body of every single-video endpoint: params, callback, options, input (+ audio), job;
    the cheap checks first, so a bad request never waits for an upload's probe."""
    implied = {spec.audio_implies: True} if audio is not None else {}
    parsed = job_params(spec.job_type, params, **implied)
    if spec.audio_implies and audio is None and getattr(parsed, spec.audio_implies):
        raise _needs_audio(spec.audio_implies)
    url = callback(callback_url)
    options = job_options(
        run_at=run_at, metadata=metadata, webhook_progress=webhook_progress, callback_url=url
    )
    inputs, shared = video_input(
        request, file=file, source_video_id=source_video_id, need_video=spec.need_video
    )
    if audio is not None:
        inputs = merge(inputs, {"audio": audio_upload(audio)})
    return start_job(
        request,
        spec.job_type,
        params=parsed,
        inputs=inputs,
        shared_inputs=shared,
        callback_url=url,
        options=options,
    )


def _needs_audio(param: str):
    return ApiError(
        422,
        "validation_error",
        f"'params.{param}' is true but no 'audio' was uploaded",
        [{"field": "audio"}, {"field": f"params.{param}"}],
    )


def _form_field(name: str, annotation) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


# The job options every endpoint here takes as form fields (see inputs.job_options).
OPTION_FIELDS = [
    _form_field("run_at", Form[datetime]),
    _form_field("metadata", Form[str]),
    _form_field("webhook_progress", Form[bool]),
]


def _add_video_job(spec: VideoJob) -> None:
    """Route one VideoJob. ninja reads the form fields from the view's signature, so the view
    gets one built from the spec (its fields in the order the form documents them)."""
    fields = [
        _form_field("file", File[UploadedFile]),
        _form_field("source_video_id", Form[int]),
        *([_form_field("audio", File[UploadedFile])] if spec.audio_implies else []),
        *([_form_field("params", Form[str])] if spec.takes_params else []),
        _form_field("callback_url", Form[str]),
        *OPTION_FIELDS,
    ]

    def view(request, **form):
        return _one_video_job(request, spec, **form)

    view.__name__ = view.__qualname__ = spec.name
    view.__signature__ = inspect.Signature(
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD), *fields]
    )
    router.post(
        f"/videos/{spec.path}",
        response=RESPONSES,
        summary=spec.summary,
        description=_describe(spec.what, spec.job_type),
    )(idempotent_route(view))


for _spec in VIDEO_JOBS:
    _add_video_job(_spec)


@router.post(
    "/videos/multi",
    response=RESPONSES,
    summary="A main video with secondary videos inserted at keywords (a multi_video job)",
    description=_describe(
        "The main video is `file` or `source_video_id`; the 1–3 secondary videos are "
        "`secondary_files` (uploads) or `secondary_source_video_ids`, in the order of "
        "`params.keywords` (one keyword list per secondary). Params: `srt` (required), "
        "`keywords`, `match_threshold`, `subtitle_style`, `insert_duration`, `max_duration`, "
        "`voiceover`, `voice_mute`, `output_name`, `script_text`.",
        "multi_video",
    ),
)
@idempotent_route
def video_multi(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    secondary_files: File[list[UploadedFile]] = None,
    secondary_source_video_ids: Form[list[int]] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
    run_at: Form[datetime] = None,
    metadata: Form[str] = None,
    webhook_progress: Form[bool] = None,
):
    files_field, ids_field = "secondary_files", "secondary_source_video_ids"
    count = count_videos(
        secondary_files,
        secondary_source_video_ids,
        files_field=files_field,
        ids_field=ids_field,
        most=MAX_SECONDARIES,
    )
    parsed = job_params("multi_video", params)
    if parsed.replace_audio:  # this endpoint takes no audio upload
        raise _needs_audio("replace_audio")
    if len(parsed.keywords) != count:
        raise _keywords_mismatch(len(parsed.keywords), count)
    url = callback(callback_url)
    options = job_options(
        run_at=run_at, metadata=metadata, webhook_progress=webhook_progress, callback_url=url
    )
    main_inputs, main_shared = video_input(
        request, file=file, source_video_id=source_video_id, label="main"
    )
    inputs, shared = video_list_input(
        request,
        secondary_files,
        secondary_source_video_ids,
        files_field=files_field,
        labels=[f"secondary_{i}" for i in range(count)],
    )
    return start_job(
        request,
        "multi_video",
        params=parsed,
        inputs=merge(main_inputs, inputs),
        shared_inputs=merge(main_shared, shared),
        callback_url=url,
        options=options,
    )


def _keywords_mismatch(lists: int, videos: int):
    return ApiError(
        422,
        "validation_error",
        f"'params.keywords' has {lists} keyword list(s) for {videos} secondary video(s): "
        "give one list per secondary video",
        [{"field": "params.keywords"}],
    )
