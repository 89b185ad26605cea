"""What every TTS provider returns and raises.

A provider turns text into one audio file in a directory it is given, with word timings when it
knows them. Errors say whether retrying can help: an unreachable service is transient (and may
fall back to the offline provider); a bad voice or a missing API key is permanent.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from media_pipeline.ops.errors import MediaError


@dataclass
class TtsAudio:
    path: Path  # the provider's own encoding (mp3, wav...), before post-processing
    characters: int  # characters of text synthesised (what paid providers bill)
    words: list[dict] | None = None  # [{"word", "start", "end"}] in seconds, None when unknown
    sample_rate: int | None = None


class TtsError(MediaError):
    """A synthesis failure that may pass (retried by the engine)."""


class ProviderUnavailable(TtsError):
    """The service could not be reached or answered with a server error (network, timeout,
    5xx, rate limit). Transient; the offline provider may stand in when configured."""


class TtsRequestError(TtsError):
    """The request itself is wrong (text, rate...): retrying cannot help."""

    permanent = True


class InvalidVoiceError(TtsRequestError):
    """The provider does not know this voice."""


class ProviderNotConfigured(TtsRequestError):
    """The provider needs configuration it does not have (an API key), or rejected it."""


class TtsProvider(Protocol):
    name: str
    label: str  # the name a user reads in messages ("edge-tts")
    default_voice: str

    def synthesize(self, text: str, *, voice: str, out_dir: Path, rate: float = 1.0) -> TtsAudio:
        """Speak `text` into a new file under `out_dir`. `rate` is a speed factor (1.0 = normal)."""
        ...

    def voices(self) -> list[dict]:
        """The voices this provider offers: [{"id", "name", "language", "gender"}]."""
        ...
