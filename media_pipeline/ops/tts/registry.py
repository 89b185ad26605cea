"""TTS providers by name, and their voices (for the API to expose).

A provider's module is imported when it is used: edge-tts (aiohttp) and the ElevenLabs client
(httpx) cost ~15 MB, and the API, hence every process, imports this registry."""

import importlib

from media_pipeline.ops.tts.base import TtsProvider, TtsRequestError

PROVIDERS: dict[str, str] = {  # name -> "module:class"
    "edge": "media_pipeline.ops.tts.edge:EdgeProvider",
    "elevenlabs": "media_pipeline.ops.tts.elevenlabs:ElevenLabsProvider",
    "offline": "media_pipeline.ops.tts.offline:OfflineProvider",
}
OFFLINE = "offline"


def provider_names() -> list[str]:
    return list(PROVIDERS)


def get_provider(name: str) -> TtsProvider:
    try:
        module, cls = PROVIDERS[name].split(":")
    except KeyError:
        known = ", ".join(PROVIDERS)
        raise TtsRequestError(f"unknown TTS provider '{name}' (known: {known})") from None
    return getattr(importlib.import_module(module), cls)()


def list_voices(name: str) -> list[dict]:
    """[{"id", "name", "language", "gender"}]. edge and elevenlabs ask their service (and may
    raise ProviderUnavailable / ProviderNotConfigured); offline is local."""
    return get_provider(name).voices()
