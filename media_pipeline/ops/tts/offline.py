"""The offline provider: eSpeak NG through `espeak.py`. Needs no network and no system package,
so it is also the stand-in when a network provider is unreachable."""

import re
from pathlib import Path

from media_pipeline.ops.tts import espeak
from media_pipeline.ops.tts.base import InvalidVoiceError, TtsAudio, TtsError

BASE_WPM = 175  # eSpeak's default speaking rate, i.e. rate 1.0
LOCALE = re.compile(r"^([a-z]{2,3})-([A-Za-z]{2,4})\b")


def merge_repeats(words: list[dict]) -> list[dict]:
    """One timing per run of identical consecutive words. eSpeak reports some words several
    times (a Japanese word once per syllable); a genuine repeat ("very very") comes back when
    the words are aligned to the text."""
    merged: list[dict] = []
    for word in words:
        if merged and merged[-1]["word"] == word["word"]:
            merged[-1] = {**merged[-1], "end": word["end"]}
        else:
            merged.append(dict(word))
    return merged


class OfflineProvider:
    name = "offline"
    label = "the offline voice (eSpeak NG)"
    default_voice = "en"

    def synthesize(self, text: str, *, voice: str, out_dir: Path, rate: float = 1.0) -> TtsAudio:
        if ".." in voice:  # eSpeak resolves voice names as paths under its data dir
            raise InvalidVoiceError(f"invalid eSpeak voice '{voice}'")
        try:
            speech = espeak.synthesize(text, voice=voice, rate_wpm=round(BASE_WPM * rate))
        except espeak.EspeakError as exc:
            if "unknown eSpeak voice" in str(exc):
                raise InvalidVoiceError(f"{exc} (see the offline provider's voices)") from None
            raise TtsError(str(exc)) from None
        path = speech.write_wav(Path(out_dir) / "offline.wav")
        return TtsAudio(
            path=path,
            characters=len(text),
            words=merge_repeats(speech.words),
            sample_rate=speech.sample_rate,
        )

    def voices(self) -> list[dict]:
        return [
            {"id": v["id"], "name": v["name"], "language": v["language"], "gender": None}
            for v in espeak.list_voices()
        ]

    def voice_for(self, other_voice: str | None) -> str:
        """The closest offline voice to another provider's voice (same language), else the
        default. 'en-US-AriaNeural' -> 'gmw/en-US'; 'fr-FR-DeniseNeural' -> 'roa/fr'."""
        match = LOCALE.match(other_voice or "")
        if not match:
            return self.default_voice
        language, region = match.group(1).lower(), match.group(2).lower()
        by_language = {v["language"].lower(): v["id"] for v in espeak.list_voices()}
        for candidate in (f"{language}-{region}", language):
            if candidate in by_language:
                return by_language[candidate]
        for code, voice_id in sorted(by_language.items()):
            if code.startswith(f"{language}-"):
                return voice_id
        return self.default_voice
