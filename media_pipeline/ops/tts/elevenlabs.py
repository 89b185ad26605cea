"""The ElevenLabs provider: REST over httpx with the configured API key.

Speech comes from the `with-timestamps` endpoint, whose character alignment gives word timings.
Errors are sorted for the engine: no key / rejected key / unknown voice / bad request are
permanent; network errors, timeouts, rate limits and 5xx are transient (ProviderUnavailable).
"""

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings

from media_pipeline.ops.network_errors import failure_words
from media_pipeline.ops.tts.base import (
    InvalidVoiceError,
    ProviderNotConfigured,
    ProviderUnavailable,
    TtsAudio,
    TtsRequestError,
)
from media_pipeline.ops.tts.timings import words_from_characters

OUTPUT_FORMAT = "mp3_44100_128"
OTHER_PROVIDERS = "tts_provider=edge or offline"
VOICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # goes into the URL path: nothing else allowed
SPEED_RANGE = (0.7, 1.2)  # what ElevenLabs accepts as voice_settings.speed
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


def _error_detail(response: httpx.Response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


def _error_status(response: httpx.Response) -> str:
    """ElevenLabs' machine-readable reason, e.g. 'invalid_api_key', 'quota_exceeded'."""
    detail = _error_detail(response)
    return str(detail.get("status", "")) if isinstance(detail, dict) else ""


def _error_message(response: httpx.Response) -> str:
    """ElevenLabs' own explanation: {"detail": {"status", "message"}} or {"detail": "..."}."""
    detail = _error_detail(response)
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("status")
    elif isinstance(detail, list) and detail:  # validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail or response.reason_phrase or "no details")


@dataclass(frozen=True)
class Subscription:
    """The account's character quota for the current period (what ElevenLabs bills)."""

    characters_used: int
    characters_limit: int
    tier: str
    next_reset_unix: int | None


class ElevenLabsProvider:
    name = "elevenlabs"
    label = "ElevenLabs"
    default_voice = "21m00Tcm4TlvDq8ikWAM"  # "Rachel", a premade voice every account has

    def _client(self) -> httpx.Client:
        if not settings.ELEVENLABS_API_KEY:
            raise ProviderNotConfigured(
                "ElevenLabs is not configured (no API key): set ELEVENLABS_API_KEY to use it, "
                f"or choose another provider ({OTHER_PROVIDERS})"
            )
        return httpx.Client(
            base_url=settings.ELEVENLABS_BASE_URL,
            headers={"xi-api-key": settings.ELEVENLABS_API_KEY},
            timeout=TIMEOUT,
        )

    def _request(self, method: str, url: str, *, voice: str | None = None, **kwargs) -> dict:
        with self._client() as client:
            try:
                response = client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # connection refused, DNS, timeouts...
                raise ProviderUnavailable(
                    f"ElevenLabs could not be reached ({failure_words(exc)})"
                ) from exc
        self._raise_for_status(response, voice)
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable(
                "ElevenLabs answered with something that is not JSON"
            ) from None

    @staticmethod
    def _raise_for_status(response: httpx.Response, voice: str | None) -> None:
        status = response.status_code
        if status < 400:
            return
        reason = f"HTTP {status}: {_error_message(response)}"
        if _error_status(response) == "quota_exceeded":
            raise TtsRequestError(
                f"ElevenLabs quota exceeded ({reason}): add credits to the account, "
                f"or choose another provider ({OTHER_PROVIDERS})"
            )
        if status in (401, 403):
            raise ProviderNotConfigured(
                f"ElevenLabs rejected the API key ({reason}): check ELEVENLABS_API_KEY, "
                f"or choose another provider ({OTHER_PROVIDERS})"
            )
        if status == 404 and voice:
            raise InvalidVoiceError(f"ElevenLabs has no voice '{voice}' ({reason})")
        if status == 429 or status >= 500:
            raise ProviderUnavailable(f"ElevenLabs is unavailable ({reason})")
        raise TtsRequestError(f"ElevenLabs refused the request ({reason})")

    def synthesize(self, text: str, *, voice: str, out_dir: Path, rate: float = 1.0) -> TtsAudio:
        if not VOICE_ID.match(voice):
            raise InvalidVoiceError(f"invalid ElevenLabs voice id '{voice}'")
        body: dict = {"text": text, "model_id": settings.ELEVENLABS_MODEL}
        if rate != 1.0:
            low, high = SPEED_RANGE
            if not low <= rate <= high:
                raise TtsRequestError(f"ElevenLabs speaks at rates {low}–{high} only, not {rate}")
            body["voice_settings"] = {"speed": rate}
        payload = self._request(
            "POST",
            f"/v1/text-to-speech/{voice}/with-timestamps",
            voice=voice,
            params={"output_format": OUTPUT_FORMAT},
            json=body,
        )
        path = Path(out_dir) / "elevenlabs.mp3"
        try:
            path.write_bytes(base64.b64decode(payload["audio_base64"], validate=True))
        except (KeyError, TypeError, binascii.Error):
            raise ProviderUnavailable("ElevenLabs answered without usable audio") from None
        return TtsAudio(
            path=path,
            characters=len(text),
            words=self._words(payload.get("alignment")),
            sample_rate=44100,
        )

    @staticmethod
    def _words(alignment: dict | None) -> list[dict] | None:
        try:
            return words_from_characters(
                alignment["characters"],
                alignment["character_start_times_seconds"],
                alignment["character_end_times_seconds"],
            )
        except (KeyError, TypeError, IndexError):
            return None  # audio without timings is still usable

    def voices(self) -> list[dict]:
        payload = self._request("GET", "/v1/voices")
        return [
            {
                "id": v["voice_id"],
                "name": v.get("name") or v["voice_id"],
                "language": (v.get("labels") or {}).get("language")
                or (v.get("labels") or {}).get("accent", ""),
                "gender": (v.get("labels") or {}).get("gender"),
            }
            for v in payload.get("voices", [])
        ]

    def subscription(self, *, timeout: float) -> Subscription:
        """The account's quota (GET /v1/user/subscription), asked within `timeout` seconds.
        Errors as for speech: no key or a rejected one is ProviderNotConfigured, no answer in
        time ProviderUnavailable."""
        payload = self._request("GET", "/v1/user/subscription", timeout=timeout)
        try:
            used, limit = int(payload["character_count"]), int(payload["character_limit"])
            reset = payload.get("next_character_count_reset_unix")
            return Subscription(
                characters_used=used,
                characters_limit=limit,
                tier=str(payload.get("tier") or "unknown"),
                next_reset_unix=int(reset) if reset is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailable(
                "ElevenLabs answered with an unreadable subscription (no character counts)"
            ) from None
