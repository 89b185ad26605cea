"""The edge-tts provider: Microsoft Edge's online voices (a network service, no key).

Word boundaries are requested from the service and become word timings. `edge_tts.Communicate`
is looked up at call time, so tests can stand a fake in for the service.
"""

import asyncio
import concurrent.futures
from pathlib import Path

import aiohttp
import edge_tts
from edge_tts import exceptions as edge_errors

from media_pipeline.ops.network_errors import failure_words, without_reprs
from media_pipeline.ops.tts.base import InvalidVoiceError, ProviderUnavailable, TtsAudio

TICKS_PER_SECOND = 10_000_000  # edge-tts offsets and durations are in 100 ns ticks
CONNECT_TIMEOUT = 10
RECEIVE_TIMEOUT = 60
NETWORK_ERRORS = (
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,  # reset or refused below aiohttp
)
SERVICE_ERRORS = (  # the service answered, but not as edge-tts expects
    edge_errors.WebSocketError,
    edge_errors.UnknownResponse,
    edge_errors.UnexpectedResponse,
    edge_errors.SkewAdjustmentError,
)


def edge_rate(rate: float) -> str:
    """Speed factor -> edge-tts' relative rate: 1.25 -> '+25%', 0.8 -> '-20%'."""
    return f"{round((rate - 1.0) * 100):+d}%"


def _run(coroutine):
    """Run a coroutine to completion from sync code, even when the calling thread already runs
    an event loop (an async view): then in a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def unavailable(exc: BaseException, doing: str = "") -> ProviderUnavailable:
    """The service's failure in words: 'edge-tts could not be reached (no network: ...)'."""
    if isinstance(exc, SERVICE_ERRORS):
        said = without_reprs(str(exc)) or type(exc).__name__
        return ProviderUnavailable(f"edge-tts answered unexpectedly{doing} ({said})")
    return ProviderUnavailable(f"edge-tts could not be reached{doing} ({failure_words(exc)})")


async def _stream_to_file(communicate, path: Path) -> list[dict]:
    words = []
    with path.open("wb") as out:
        async for chunk in communicate.stream():
            if chunk["type"] == "audio":
                out.write(chunk["data"])
            elif chunk["type"] == "WordBoundary":
                start = chunk["offset"] / TICKS_PER_SECOND
                end = (chunk["offset"] + chunk["duration"]) / TICKS_PER_SECOND
                words.append(
                    {"word": chunk["text"], "start": round(start, 3), "end": round(end, 3)}
                )
    return words


class EdgeProvider:
    name = "edge"
    label = "edge-tts"
    default_voice = "en-US-AriaNeural"

    def synthesize(self, text: str, *, voice: str, out_dir: Path, rate: float = 1.0) -> TtsAudio:
        try:
            communicate = edge_tts.Communicate(
                text,
                voice,
                rate=edge_rate(rate),
                boundary="WordBoundary",
                connect_timeout=CONNECT_TIMEOUT,
                receive_timeout=RECEIVE_TIMEOUT,
            )
        except ValueError as exc:  # edge-tts validates the voice's shape
            raise InvalidVoiceError(
                f"invalid edge-tts voice '{voice}' (expected a name like en-US-AriaNeural): {exc}"
            ) from None
        path = Path(out_dir) / "edge.mp3"
        try:
            words = _run(_stream_to_file(communicate, path))
        except edge_errors.NoAudioReceived:
            raise InvalidVoiceError(
                f"edge-tts returned no audio for voice '{voice}' (unknown voice?)"
            ) from None
        except NETWORK_ERRORS + SERVICE_ERRORS as exc:
            raise unavailable(exc) from exc
        return TtsAudio(path=path, characters=len(text), words=words)

    def voices(self) -> list[dict]:
        try:
            voices = _run(edge_tts.list_voices())
        except NETWORK_ERRORS + SERVICE_ERRORS as exc:
            raise unavailable(exc, " to list its voices") from exc
        return [
            {
                "id": v["ShortName"],
                "name": v.get("FriendlyName") or v["ShortName"],
                "language": v.get("Locale", ""),
                "gender": v.get("Gender"),
            }
            for v in voices
        ]
