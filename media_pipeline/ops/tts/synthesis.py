"""Speak a text with a provider, standing the offline provider in when the chosen one is
unreachable (if allowed), and say which provider really spoke."""

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from media_pipeline.ops.tts.base import ProviderUnavailable, TtsAudio, TtsRequestError
from media_pipeline.ops.tts.offline import OfflineProvider
from media_pipeline.ops.tts.registry import OFFLINE, get_provider
from media_pipeline.ops.tts.timings import align_to_text

logger = logging.getLogger(__name__)


@dataclass
class Speech:
    audio: TtsAudio
    provider: str  # the provider that produced the audio
    voice: str
    fallback: dict | None = None  # {"from": provider, "reason": message} when offline stood in


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
    """Synthesize `text`. ProviderUnavailable propagates unless `offline_fallback` is set; any
    other error (bad voice, no API key) propagates always."""
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
        return Speech(audio=audio, provider=chosen.name, voice=voice)
    except ProviderUnavailable as exc:
        if not offline_fallback or chosen.name == OFFLINE:
            raise
        logger.warning("TTS provider %s unreachable, speaking offline instead: %s", provider, exc)
        reason = str(exc)
    offline = OfflineProvider()
    offline_voice = offline.voice_for(voice)
    audio = offline.synthesize(text, voice=offline_voice, out_dir=out_dir, rate=rate)
    return Speech(
        audio=audio,
        provider=offline.name,
        voice=offline_voice,
        fallback={"from": chosen.name, "reason": reason},
    )
