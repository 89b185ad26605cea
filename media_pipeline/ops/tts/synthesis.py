"""Speak a text with a provider, standing the offline provider in when the chosen one is
unreachable (EF_TTS_OFFLINE_FALLBACK, on by default), and say which provider really spoke and why.

Only an unreachable service (network, timeout, 5xx, rate limit: ProviderUnavailable) is stood in
for. A missing or rejected API key, an unknown voice or a used-up quota needs a person to act, and
a substitute voice would hide it: those fail with a message naming the remedy."""

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from media_pipeline.ops.tts.base import ProviderUnavailable, TtsAudio, TtsError, TtsRequestError
from media_pipeline.ops.tts.offline import OfflineProvider
from media_pipeline.ops.tts.registry import OFFLINE, get_provider
from media_pipeline.ops.tts.timings import align_to_text

logger = logging.getLogger(__name__)

FALLBACK_SETTING = "EF_TTS_OFFLINE_FALLBACK"
REMEDY = (
    "Use the offline voice (provider offline: tts_provider=offline in a clip's content) "
    f"or set {FALLBACK_SETTING}=1 to have it stand in automatically."
)


@dataclass
class Speech:
    audio: TtsAudio
    provider: str  # the provider that produced the audio
    voice: str
    requested: str = ""  # the provider asked for
    fallback: dict | None = None  # {"from": provider, "reason": message} when offline stood in

    @property
    def notice(self) -> str | None:
        """The fallback in one sentence for the user, None when the chosen provider spoke."""
        if not self.fallback:
            return None
        return (
            f"The voice-over was spoken by the offline voice (eSpeak NG, voice {self.voice}) "
            f"because {self.fallback['reason']} ({FALLBACK_SETTING} is on)."
        )


def check_text(text: str) -> str:
    """The text to speak, stripped; a readable error when it is empty or too long."""
    text = text.strip()
    if not text:
        raise TtsRequestError("the text is empty")
    limit = settings.TTS_MAX_CHARS
    if len(text) > limit:
        raise TtsRequestError(
            f"the text is {len(text):,} characters long; the maximum is {limit:,}"
        )
    return text


def speak(
    text: str,
    *,
    provider: str,
    voice: str | None,
    out_dir: Path,
    rate: float = 1.0,
    offline_fallback: bool = False,
) -> Speech:
    """Synthesize `text`. ProviderUnavailable propagates unless `offline_fallback` is set (its
    message then names the remedy); any other error (bad voice, no API key) propagates always."""
    text = check_text(text)
    speech = _speak(
        text,
        provider=provider,
        voice=voice,
        out_dir=out_dir,
        rate=rate,
        offline_fallback=offline_fallback,
    )
    if speech.audio.words:
        speech.audio.words = align_to_text(text, speech.audio.words)
    return speech


def _speak(text, *, provider, voice, out_dir, rate, offline_fallback) -> Speech:
    chosen = get_provider(provider)
    voice = voice or chosen.default_voice
    try:
        audio = chosen.synthesize(text, voice=voice, out_dir=out_dir, rate=rate)
        return Speech(audio=audio, provider=chosen.name, voice=voice, requested=chosen.name)
    except ProviderUnavailable as exc:
        if chosen.name == OFFLINE:
            raise
        if not offline_fallback:
            raise ProviderUnavailable(f"{exc}. {REMEDY}") from exc
        logger.warning("TTS provider %s unreachable, speaking offline instead: %s", provider, exc)
        reason = str(exc)
    offline = OfflineProvider()
    offline_voice = offline.voice_for(voice)
    try:
        audio = offline.synthesize(text, voice=offline_voice, out_dir=out_dir, rate=rate)
    except TtsError as exc:
        raise ProviderUnavailable(
            f"{reason}, and the offline voice could not stand in ({exc})"
        ) from exc
    return Speech(
        audio=audio,
        provider=offline.name,
        voice=offline_voice,
        requested=chosen.name,
        fallback={"from": chosen.name, "reason": reason},
    )
