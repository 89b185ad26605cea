"""Library API: jobs on one video (info, voice, analysis, variants) and the multi-video edit.

Every endpoint takes multipart form data: the video as an upload `file` OR `source_video_id` (one
of your library source videos, read in place), the job's `params` as one JSON form field, and an
optional `callback_url`. It answers 202 {job_id, status, status_url, events_url}.
"""

from ninja import File, Form, Router
from ninja.files import UploadedFile

from core.apierrors import ApiError
from jobs.schemas import JobCreated
from media_pipeline.library.api.common import CREATE_ERRORS, start_job, video_input
from media_pipeline.library.api.inputs import (
    PARAMS_HELP,
    audio_upload,
    callback,
    count_videos,
    job_params,
    merge,
    video_list_input,
)

router = Router(tags=["videos"])
RESPONSES = {202: JobCreated, **CREATE_ERRORS}
MAX_SECONDARIES = 3
SOURCE_HELP = (
    "Multipart: the video as an upload `file` or `source_video_id` (one of your source videos), "
    "exactly one of the two; optional `callback_url` (http/https) POSTed when the job ends."
)


def _describe(what: str, job_type: str) -> str:
    return f"{what} Starts a `{job_type}` job. {SOURCE_HELP} {PARAMS_HELP}"


def _one_video_job(request, job_type, *, file, source_video_id, params, callback_url, need_video):
    """The shared body of the single-video endpoints: params, callback, input, job."""
    parsed = job_params(job_type, params)
    url = callback(callback_url)
    inputs, shared = video_input(
        request, file=file, source_video_id=source_video_id, need_video=need_video
    )
    return start_job(
        request, job_type, params=parsed, inputs=inputs, shared_inputs=shared, callback_url=url
    )


@router.post(
    "/videos/info",
    response=RESPONSES,
    summary="Media info of a video (a probe job)",
    description=_describe("Duration, size, rotation, codecs of any audio or video.", "probe"),
)
def video_info(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    callback_url: Form[str] = None,
):
    return _one_video_job(
        request,
        "probe",
        file=file,
        source_video_id=source_video_id,
        params=None,
        callback_url=callback_url,
        need_video=False,
    )


@router.post(
    "/videos/detect-voice",
    response=RESPONSES,
    summary="Speech intervals of a video or audio file (a detect_voice job)",
    description=_describe(
        "Params: `threshold`, `min_speech_ms`, `min_silence_ms`, `merge_gap_ms`, `padding_ms`.",
        "detect_voice",
    ),
)
def video_detect_voice(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
):
    return _one_video_job(
        request,
        "detect_voice",
        file=file,
        source_video_id=source_video_id,
        params=params,
        callback_url=callback_url,
        need_video=False,
    )


@router.post(
    "/videos/mute-voice",
    response=RESPONSES,
    summary="Lower the speech of a video or audio file (a mute_voice job)",
    description=_describe(
        "Params: `keep_percentage`, `fade_ms` and the detection params.", "mute_voice"
    ),
)
def video_mute_voice(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
):
    return _one_video_job(
        request,
        "mute_voice",
        file=file,
        source_video_id=source_video_id,
        params=params,
        callback_url=callback_url,
        need_video=False,
    )


@router.post(
    "/videos/analyze",
    response=RESPONSES,
    summary="Scored segments of a video (an analyze job)",
    description=_describe(
        "Params: `target_duration`, `provider` (local/gemini), `context_text`, "
        "`fallback_to_local`, `sample_fps`, `window_overlap`, `thresholds`.",
        "analyze",
    ),
)
def video_analyze(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
):
    return _one_video_job(
        request,
        "analyze",
        file=file,
        source_video_id=source_video_id,
        params=params,
        callback_url=callback_url,
        need_video=True,
    )


@router.post(
    "/videos/process",
    response=RESPONSES,
    summary="Clip variants of a video (a process job)",
    description=_describe(
        "Params: `variant_count`, `target_duration`, `srt`, `subtitle_style`, `voice_mute`, "
        "`replace_audio`. An optional `audio` upload becomes the soundtrack (`replace_audio` "
        "is then implied; `replace_audio: true` without it is a 422).",
        "process",
    ),
)
def video_process(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    audio: File[UploadedFile] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
):
    if audio is not None:
        parsed = job_params("process", params, replace_audio=True)
    else:
        parsed = job_params("process", params)
        if parsed.get("replace_audio"):
            raise _needs_audio()
    url = callback(callback_url)
    inputs, shared = video_input(request, file=file, source_video_id=source_video_id)
    if audio is not None:
        inputs = merge(inputs, {"audio": audio_upload(audio)})
    return start_job(
        request, "process", params=parsed, inputs=inputs, shared_inputs=shared, callback_url=url
    )


def _needs_audio():
    return ApiError(
        422,
        "validation_error",
        "'params.replace_audio' is true but no 'audio' was uploaded",
        [{"field": "audio"}, {"field": "params.replace_audio"}],
    )


@router.post(
    "/videos/multi",
    response=RESPONSES,
    summary="A main video with secondary videos inserted at keywords (a multi_video job)",
    description=_describe(
        "The main video is `file` or `source_video_id`; the 1–3 secondary videos are "
        "`secondary_files` (uploads) or `secondary_source_video_ids`, in the order of "
        "`params.keywords` (one keyword list per secondary). Params: `srt` (required), "
        "`keywords`, `match_threshold`, `subtitle_style`.",
        "multi_video",
    ),
)
def video_multi(
    request,
    file: File[UploadedFile] = None,
    source_video_id: Form[int] = None,
    secondary_files: File[list[UploadedFile]] = None,
    secondary_source_video_ids: Form[list[int]] = None,
    params: Form[str] = None,
    callback_url: Form[str] = None,
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
    if len(parsed["keywords"]) != count:
        raise _keywords_mismatch(len(parsed["keywords"]), count)
    url = callback(callback_url)
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
    )


def _keywords_mismatch(lists: int, videos: int):
    return ApiError(
        422,
        "validation_error",
        f"'params.keywords' has {lists} keyword list(s) for {videos} secondary video(s): "
        "give one list per secondary video",
        [{"field": "params.keywords"}],
    )
