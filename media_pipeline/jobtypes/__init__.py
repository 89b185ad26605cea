"""Job types of the media pipeline: each module registers its types with the job engine when
imported (`MediaPipelineConfig.ready()` loads them all)."""

# What the job types import when they run, not when they are registered: a worker started alone
# (`manage.py rqworker`) stays without them, and each of its work horses imports what its job
# needs (a render without a voice-over: none of it). `manage.py up` loads them once before it
# forks its children, shared by all, so a job in its workers imports nothing.
RUN_TIME_IMPORTS = (
    "media_pipeline.ops.analysis",  # numpy, Pillow
    "media_pipeline.ops.voice_detect",
    "numpy",  # voice_mute, tts.silence
    "media_pipeline.ops.tts.silence",
    "media_pipeline.ops.tts.synthesis",
    "media_pipeline.ops.tts.edge",  # edge-tts, aiohttp
    "media_pipeline.ops.tts.elevenlabs",  # httpx
    "jwt",  # the API's Supabase tokens (core.supabase_auth)
    "rapidfuzz.fuzz",
)


def warm_for_workers() -> None:
    """What `up` loads before it forks besides RUN_TIME_IMPORTS: an idle Silero model
    (`vad_models`), so a voice job's detection does not wait ~0.08 s for one to load. A model
    that cannot load does not stop `up`: each voice job then tries, and fails with the reason."""
    import logging

    from media_pipeline.ops import vad_models

    try:
        vad_models.preload()
    except Exception as exc:
        logging.getLogger(__name__).warning(
            "the voice activity model could not be loaded (%s): voice jobs will load it", exc
        )
