"""Segment analysis by Google Gemini: frames every 2 s, sent 30 at a time to `generateContent`.

The model answers, per batch, JSON segments whose start/end are seconds relative to the batch's
first frame; `batch_segments_to_absolute` adds the batch's own start time exactly once. Frame
extraction is an ffmpeg run (argv built here, run by the caller through the runner); the HTTP
calls go through httpx. Nothing here knows about jobs: costs and progress are reported through
the `on_batch` callback.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ffmpeg
from django.conf import settings

from media_pipeline.ops.analysis_selection import Window, selection_result
from media_pipeline.ops.errors import MediaError
from media_pipeline.ops.network_errors import failure_words

if TYPE_CHECKING:  # imported where a request is made: every worker loads this module at start
    import httpx

logger = logging.getLogger(__name__)

FRAME_INTERVAL = 2.0  # seconds between frames sent to the model
FRAME_WIDTH = 720
BATCH_SIZE = 30
JPEG_QUALITY = 4  # ffmpeg -q:v (2 best .. 31 worst)
FRAME_PATTERN = "frame_%05d.jpg"
REQUEST_TIMEOUT, CONNECT_TIMEOUT = 120.0, 10.0  # seconds
MIN_SEGMENT = 0.5  # seconds: shorter answers are noise


class GeminiError(MediaError):
    """Gemini could not be used this time (timeout, 429, 5xx, unreadable answer): retryable."""


class GeminiRejectedError(GeminiError):
    """Gemini refused the request itself (bad key, bad request): retrying cannot help."""

    permanent = True


@dataclass(frozen=True)
class GeminiConfig:
    api_key: str
    model: str
    base_url: str
    batch_size: int = BATCH_SIZE
    frame_interval: float = FRAME_INTERVAL

    @classmethod
    def from_settings(cls) -> GeminiConfig:
        """The configured key, model and base URL (the key may be empty: not configured)."""
        return cls(
            api_key=settings.GEMINI_API_KEY,
            model=settings.GEMINI_MODEL,
            base_url=settings.GEMINI_BASE_URL,
        )

    @property
    def model_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/v1beta/models/{self.model}"

    @property
    def endpoint(self) -> str:
        return f"{self.model_url}:generateContent"


# --- frames -----------------------------------------------------------------------------------
def frame_extraction_args(
    source: Path, out_dir: Path, *, interval: float = FRAME_INTERVAL, width: int = FRAME_WIDTH
) -> list[str]:
    """ffmpeg arguments writing one JPEG every `interval` seconds (frame k shows k·interval s),
    `width` px wide (never upscaled), display rotation applied (ffmpeg autorotates)."""
    stream = (
        ffmpeg.input(str(source))
        .video.filter("fps", fps=f"1/{interval:g}")
        .filter("scale", w=f"min({width},iw)", h=-2)
    )
    out = stream.output(
        str(Path(out_dir) / FRAME_PATTERN), **{"q:v": JPEG_QUALITY, "start_number": 0}
    )
    return out.get_args()


def extracted_frames(out_dir: Path) -> list[Path]:
    return sorted(Path(out_dir).glob("frame_*.jpg"))


def batches(count: int, size: int) -> list[range]:
    """Frame index ranges of consecutive batches."""
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


# --- request and answer -----------------------------------------------------------------------
def batch_prompt(frame_count: int, interval: float, context_text: str | None) -> str:
    span = frame_count * interval
    lines = [
        "You pick the most engaging moments of a video for short-form clips (TikTok, Reels).",
        f"The {frame_count} images below are frames taken every {interval:g} seconds; frame i is "
        f"{interval:g}·i seconds after the first frame of this set, which spans 0 to {span:g} s.",
    ]
    if context_text:
        lines.append(f"What the video is about, from its owner: {context_text.strip()}")
    lines.append(
        'Answer with JSON only: {"segments": [{"start": <seconds>, "end": <seconds>, '
        '"score": <0-100>, "reason": "<a few words>"}]}, start and end in seconds relative to '
        "the first frame of this set, segments 2 to 10 seconds long, not overlapping, best "
        "moments scored highest; an empty list if nothing is worth keeping."
    )
    return "\n".join(lines)


def request_body(jpegs: list[bytes], *, interval: float, context_text: str | None) -> dict:
    parts: list[dict] = [{"text": batch_prompt(len(jpegs), interval, context_text)}]
    for index, data in enumerate(jpegs):
        parts.append({"text": f"frame {index} (+{index * interval:g} s)"})
        parts.append(
            {"inline_data": {"mime_type": "image/jpeg", "data": base64.b64encode(data).decode()}}
        )
    return {
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": {"responseMimeType": "application/json", "temperature": 0.2},
    }


def parse_answer(payload: dict) -> list[dict]:
    """The raw segments of a generateContent answer (relative times, as the model wrote them)."""
    try:
        parts = payload["candidates"][0]["content"]["parts"]
        text = "".join(part.get("text", "") for part in parts)
    except (KeyError, IndexError, TypeError):
        raise GeminiError("Gemini answered without content (blocked or empty answer)") from None
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise GeminiError(f"Gemini's answer is not JSON: {text[:120]!r}") from None
    segments = data.get("segments") if isinstance(data, dict) else data
    if not isinstance(segments, list):
        raise GeminiError("Gemini's answer has no 'segments' list")
    return [s for s in segments if isinstance(s, dict)]


def batch_segments_to_absolute(
    raw: list[dict], *, batch_start: float, batch_span: float, source_duration: float
) -> list[dict]:
    """Relative segments of one batch → absolute seconds (batch start added once), clamped to
    the batch and to the source; unusable entries dropped."""
    segments = []
    for item in raw:
        try:
            start, end = float(item["start"]), float(item["end"])
            score = float(item.get("score", 0))
        except (KeyError, TypeError, ValueError):
            continue
        start = batch_start + min(max(start, 0.0), batch_span)
        end = min(batch_start + min(max(end, 0.0), batch_span), source_duration)
        if end - start < MIN_SEGMENT:
            continue
        segments.append(
            {
                "start": round(start, 3),
                "end": round(end, 3),
                "score": min(max(score, 0.0), 100.0),
                "reason": str(item.get("reason", ""))[:200],
            }
        )
    return segments


# --- HTTP -------------------------------------------------------------------------------------
def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase


def _send(client: httpx.Client, config: GeminiConfig, method: str, url: str, **kwargs) -> dict:
    """One request to Gemini, its JSON answer. 400/401/403/404 -> GeminiRejectedError
    (permanent); timeouts, network errors, 429 and 5xx -> GeminiError (transient)."""
    import httpx

    headers = {"x-goog-api-key": config.api_key}  # a header keeps the key out of URLs/logs
    try:
        response = client.request(method, url, headers=headers, **kwargs)
    except httpx.TimeoutException:
        raise GeminiError("Gemini did not answer in time (timeout)") from None
    except httpx.TransportError as exc:
        raise GeminiError(f"Gemini could not be reached ({failure_words(exc)})") from None
    if response.status_code in (401, 403):
        raise GeminiRejectedError(
            f"Gemini rejected the API key (HTTP {response.status_code}): {_error_message(response)}"
        )
    if response.status_code in (400, 404):
        raise GeminiRejectedError(
            f"Gemini refused the request (HTTP {response.status_code}): {_error_message(response)}"
        )
    if response.status_code >= 400:
        raise GeminiError(
            f"Gemini is unavailable (HTTP {response.status_code}): {_error_message(response)}"
        )
    try:
        return response.json()
    except ValueError:
        raise GeminiError("Gemini answered with something that is not JSON") from None


def generate(client: httpx.Client, config: GeminiConfig, body: dict) -> dict:
    """One generateContent call (errors as `_send`)."""
    import httpx

    timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT)
    return _send(client, config, "POST", config.endpoint, json=body, timeout=timeout)


def model_check(client: httpx.Client, config: GeminiConfig, *, timeout: float) -> str:
    """Whether the key can use the configured model, asked within `timeout` seconds without
    spending anything (the model's description, not a generation): the model's display name.
    Errors as `_send` (a rejected key, an unknown model, no answer in time...)."""
    payload = _send(client, config, "GET", config.model_url, timeout=timeout)
    if not isinstance(payload, dict):
        raise GeminiError("Gemini answered with an unreadable model description")
    return str(payload.get("displayName") or payload.get("name") or config.model)


def analyze_frames(
    frames: list[Path],
    *,
    config: GeminiConfig,
    source_duration: float,
    context_text: str | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
    client: httpx.Client | None = None,
) -> list[dict]:
    """Absolute segments {start, end, score 0-100, reason} of every batch of frames (frame k
    taken at k·interval s). `on_batch(batch_number, batch_count, frame_count)` runs after each
    answered request (record its cost there)."""
    groups = batches(len(frames), config.batch_size)
    import httpx

    owns_client = client is None
    client = client or httpx.Client()
    segments: list[dict] = []
    try:
        for number, group in enumerate(groups, start=1):
            jpegs = [frames[i].read_bytes() for i in group]
            body = request_body(jpegs, interval=config.frame_interval, context_text=context_text)
            payload = generate(client, config, body)
            if on_batch:
                on_batch(number, len(groups), len(group))
            segments += batch_segments_to_absolute(
                parse_answer(payload),
                batch_start=group.start * config.frame_interval,
                batch_span=len(group) * config.frame_interval,
                source_duration=source_duration,
            )
            logger.info("gemini batch %d/%d: %d frames", number, len(groups), len(group))
    finally:
        if owns_client:
            client.close()
    return segments


def select_segments_for_target(
    segments: list[dict], *, target_duration: float, source_duration: float
) -> dict:
    """The model's segments, best first until the target is covered, as the analysis result
    (same shape as the local one; motion/variance scores are the local analysis' only)."""
    windows = [
        Window(
            start=s["start"],
            end=s["end"],
            score=s["score"] / 100.0,
            extra={"gemini_score": s["score"], "reason": s["reason"]},
        )
        for s in segments
    ]
    return selection_result(
        windows,
        source_duration=source_duration,
        target_duration=target_duration,
        min_length=MIN_SEGMENT,
        segments_proposed=len(segments),
    )
