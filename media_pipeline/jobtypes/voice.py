"""The `detect_voice` and `mute_voice` job types (input label `source`).

A file without audio is not an error for either: it has no voice. detect_voice completes with
`has_audio: false` and no intervals; mute_voice completes with "no audio: nothing to mute" and
no output file (a copy of the input would be pointless). Non-media input fails permanently.
"""

from jobs.registry import register
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.voice_detect import VoiceDetectionParams, detect_voice
from media_pipeline.ops.voice_mute import VoiceMuteParams, mute_voice

MUTE_END = 97.0


def _detection_message(detection) -> str:
    if not detection.has_audio:
        return "no audio: no voice to detect"
    if not detection.intervals:
        return "no speech found"
    return (
        f"{len(detection.intervals)} speech interval(s), {detection.speech_seconds:.1f} s of speech"
    )


@register(
    "detect_voice",
    params_schema=VoiceDetectionParams,
    max_attempts=2,
    timeout=1800,
    label="Voice detection",
)
def detect_voice_handler(ctx, params: VoiceDetectionParams) -> dict:
    ctx.progress(1, "probe", "Reading media information")
    source = ctx.input_path("source")
    info = probe_media(source, rotation=False)  # the display size is not used
    detect = ctx.stage(2, 99, "detect", "Detecting speech")
    detection = detect_voice(source, params, on_progress=detect, info=info)
    ctx.progress(100, "done", "Speech detected")
    return {**detection.as_dict(), "message": _detection_message(detection)}


@register(
    "mute_voice",
    params_schema=VoiceMuteParams,
    max_attempts=2,
    timeout=3600,
    label="Voice mute",
)
def mute_voice_handler(ctx, params: VoiceMuteParams) -> dict:
    ctx.progress(1, "probe", "Reading media information")
    source = ctx.input_path("source")
    info = probe_media(source, rotation=False)  # the display size is not used
    mute = ctx.stage(2, MUTE_END, "mute", "Detecting and muting speech (video copied)")
    outcome = mute_voice(source, ctx.temp_dir, params, info=info, on_progress=mute, tracker=ctx)
    result = outcome.as_dict()
    if outcome.output is not None:
        ctx.progress(MUTE_END, "store", "Storing the output")
        ctx.add_file(outcome.output, role="output", label="muted")
    ctx.progress(100, "done", outcome.message)
    return result
