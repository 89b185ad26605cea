"""TTS providers by name, and their voices (for the API to expose)."""

from media_pipeline.ops.tts.base import TtsProvider, TtsRequestError
from media_pipeline.ops.tts.edge import EdgeProvider
from media_pipeline.ops.tts.elevenlabs import ElevenLabsProvider
from media_pipeline.ops.tts.offline import OfflineProvider

PROVIDERS: dict[str, type] = {
    "edge": EdgeProvider,
    "elevenlabs": ElevenLabsProvider,
    "offline": OfflineProvider,
}
OFFLINE = "offline"


def provider_names() -> list[str]:
    return list(PROVIDERS)


def get_provider(name: str) -> TtsProvider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        known = ", ".join(PROVIDERS)
        raise TtsRequestError(f"unknown TTS provider '{name}' (known: {known})") from None


def list_voices(name: str) -> list[dict]:
    """[{"id", "name", "language", "gender"}]. edge and elevenlabs ask their service (and may
    raise ProviderUnavailable / ProviderNotConfigured); offline is local."""
    return get_provider(name).voices()
