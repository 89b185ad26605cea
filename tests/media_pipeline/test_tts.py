"""Text to speech: providers, silence tightening, word timings, the `tts` and `add_tts` jobs.

Real database, Redis, forking workers, ffmpeg and eSpeak NG. Only the network services are
stood in for: edge-tts' `Communicate` (a fake yielding real mp3 audio and word boundaries) and
ElevenLabs' HTTP API (respx). Outputs are checked by decoding and measuring them.
"""

import base64
import itertools
import json
import wave
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import av
import edge_tts
import ffmpeg
import httpx
import numpy as np
import pytest
import respx
import srt
from django.core.files import File
from django.utils import timezone
from edge_tts.data_classes import TTSConfig

from jobs.errors import InvalidJobParams
from jobs.models import CostEntry, Job
from jobs.registry import get_job_type
from jobs.services import job_create
from jobs.status import JobStatus
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.probe import probe_media
from media_pipeline.ops.tts import espeak
from media_pipeline.ops.tts.base import InvalidVoiceError, ProviderUnavailable, TtsRequestError
from media_pipeline.ops.tts.commands import build_add_tts_args, build_encode_args, output_suffix
from media_pipeline.ops.tts.edge import edge_rate
from media_pipeline.ops.tts.offline import merge_repeats
from media_pipeline.ops.tts.registry import get_provider, list_voices
from media_pipeline.ops.tts.silence import PausePolicy, kept_spans, tighten_speech
from media_pipeline.ops.tts.synthesis import check_text
from media_pipeline.ops.tts.timings import (
    align_to_text,
    group_words,
    remap_time,
    remap_words,
    words_from_characters,
    words_to_srt,
)
from tests.conftest import run_burst_worker
from tests.stored import stored_path

e2e = pytest.mark.django_db(transaction=True)

FIRST = "Hello there. This is the first part."
SECOND = "Here comes the second part of it."
LEAD, GAP, TAIL = 0.8, 1.5, 1.0  # silences around and between the two sentences (seconds)


# --- measuring audio ---------------------------------------------------------------------------


def decode_mono(path: Path) -> tuple[int, np.ndarray]:
    """The whole (tiny) audio track as float mono samples at its own rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return rate, np.concatenate(chunks).astype(np.float64) / 32768.0


def window_db(samples: np.ndarray, rate: int, window: float = 0.01) -> np.ndarray:
    size = int(rate * window)
    n = samples.size // size
    power = np.mean(np.square(samples[: n * size].reshape(n, size)), axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def sound_map(path: Path) -> tuple[np.ndarray, float]:
    """Per 10 ms window: is there sound (within 40 dB of the loudest window)?"""
    rate, samples = decode_mono(path)
    levels = window_db(samples, rate)
    return levels > levels.max() - 40, samples.size / rate


def silences(loud: np.ndarray) -> list[tuple[float, float]]:
    """Silent stretches between sounds, in seconds (edges excluded)."""
    idx = np.flatnonzero(loud)
    gaps = [(a + 1, b) for a, b in itertools.pairwise(idx) if b - a > 1]
    return [(a * 0.01, b * 0.01) for a, b in gaps]


def rms_db(path: Path, start: float, end: float) -> float:
    rate, samples = decode_mono(path)
    part = samples[int(start * rate) : int(end * rate)]
    return 10 * np.log10(max(float(np.mean(np.square(part))), 1e-12))


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def stream_counts(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        return len(container.streams.video), len(container.streams.audio)


def job_files(job) -> dict[str, Path]:
    return {jf.label: Path(stored_path(jf.name)) for jf in job.files.filter(role="output")}


def run(job) -> Job:
    run_burst_worker()
    job.refresh_from_db()
    return job


# --- generated speech --------------------------------------------------------------------------


def pcm16(speech: espeak.SpeechResult) -> np.ndarray:
    return np.frombuffer(speech.samples, dtype=np.int16)


def write_wav(path: Path, rate: int, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype(np.int16).tobytes())
    return path


def encode_mp3(wav: Path, rate: int) -> bytes:
    mp3 = wav.with_suffix(".mp3")
    run_ffmpeg(
        ffmpeg.input(str(wav)).output(str(mp3), acodec="libmp3lame", ar=rate, ac=1).get_args()
    )
    return mp3.read_bytes()


@dataclass
class PausedSpeech:
    wav: Path
    mp3: bytes  # as edge-tts would send it (24 kHz mono mp3)
    words: list[dict]  # espeak's word timings, shifted to where each word sits in the file
    first_len: float
    second_len: float


@pytest.fixture(scope="module")
def paused_speech(tmp_path_factory) -> PausedSpeech:
    """Two real sentences with LEAD s of silence before, GAP s between and TAIL s after."""
    directory = tmp_path_factory.mktemp("tts")
    first, second = espeak.synthesize(FIRST), espeak.synthesize(SECOND)
    rate = first.sample_rate

    def silence(seconds):
        return np.zeros(int(seconds * rate), dtype=np.int16)

    samples = np.concatenate(
        [silence(LEAD), pcm16(first), silence(GAP), pcm16(second), silence(TAIL)]
    )
    wav = write_wav(directory / "paused.wav", rate, samples)
    second_at = LEAD + first.duration + GAP

    def shift(words, by):
        return [{**w, "start": w["start"] + by, "end": w["end"] + by} for w in words]

    words = shift(first.words, LEAD) + shift(second.words, second_at)
    return PausedSpeech(wav, encode_mp3(wav, 24000), words, first.duration, second.duration)


# --- edge-tts stand-in -------------------------------------------------------------------------


def fake_communicate(audio: bytes, words: list[dict], *, fail: Exception | None = None):
    """A `Communicate` that validates its arguments like the real one (same TTSConfig) and
    streams what the service would: audio chunks and, if asked for, word boundaries in ticks."""

    class FakeCommunicate:
        def __init__(self, text, voice, *, rate="+0%", boundary="SentenceBoundary", **options):
            self.config = TTSConfig(voice, rate, "+0%", "+0Hz", boundary)

        async def stream(self):
            if fail:
                raise fail
            chunks = [audio[i : i + 4096] for i in range(0, len(audio), 4096)]
            for n, chunk in enumerate(chunks):
                yield {"type": "audio", "data": chunk}
                if n == 0 and self.config.boundary == "WordBoundary":
                    for w in words:
                        yield {
                            "type": "WordBoundary",
                            "offset": round(w["start"] * 1e7),
                            "duration": round((w["end"] - w["start"]) * 1e7),
                            "text": w["word"],
                        }

    return FakeCommunicate


# --- pure functions ----------------------------------------------------------------------------


def test_encode_argv():
    assert build_encode_args("in.wav", "out.m4a") == [
        "-i", "in.wav", "-acodec", "aac", "-b:a", "128k", "-movflags", "+faststart", "out.m4a",
    ]  # fmt: skip


def test_add_tts_argv_ducks_the_original_and_copies_the_video():
    args = build_add_tts_args(
        "v.mp4", "t.m4a", "o.mp4", duration=4.0, duck_level=0.1, has_audio=True
    )
    assert args == [
        "-i", "v.mp4", "-i", "t.m4a",
        "-filter_complex",
        "[0:a]volume=volume=0.100[s0];[s0][1:a]amix=duration=first:inputs=2:normalize=0[s1]",
        "-map", "0:v", "-map", "[s1]",
        "-acodec", "aac", "-b:a", "192k", "-movflags", "+faststart", "-vcodec", "copy", "o.mp4",
    ]  # fmt: skip


def test_add_tts_argv_without_original_audio_pads_the_speech_to_the_video():
    args = build_add_tts_args(
        "v.mkv", "t.m4a", "o.mkv", duration=3.2, duck_level=0.1, has_audio=False
    )
    assert args == [
        "-i", "v.mkv", "-i", "t.m4a",
        "-filter_complex", "[1:a]apad=whole_dur=3.200[s0];[s0]atrim=end=3.200[s1]",
        "-map", "0:v", "-map", "[s1]",
        "-acodec", "aac", "-b:a", "192k", "-vcodec", "copy", "o.mkv",
    ]  # fmt: skip
    assert output_suffix("matroska,webm") == ".mkv"
    assert output_suffix("mov,mp4,m4a,3gp,3g2,mj2") == ".mp4"


def test_kept_spans_trim_edges_and_shorten_long_pauses_only():
    rate, win = 1000, 10  # 10 samples per window, 100 windows per second
    levels = np.full(400, -90.0)
    levels[50:100] = -10  # sound 0.5-1.0 s
    levels[120:150] = -12  # 0.2 s pause before: kept whole
    levels[250:300] = -11  # 1.0 s pause before: cut to 0.3 s
    spans = kept_spans(levels, window_samples=win, total=4000, rate=rate, policy=PausePolicy())
    assert spans == [(450, 1650), (2350, 3050)]
    kept = sum(b - a for a, b in spans) / rate
    assert kept == pytest.approx(0.05 + 1.0 + 0.3 + 0.5 + 0.05)


def test_kept_spans_refuse_silence():
    with pytest.raises(TtsRequestError, match="silent"):
        kept_spans(
            np.full(50, -120.0), window_samples=10, total=500, rate=1000, policy=PausePolicy()
        )


def test_remap_lands_times_of_cut_stretches_on_the_cut():
    kept = [(0.5, 1.65), (2.35, 3.05)]
    assert [remap_time(t, kept) for t in (0.0, 0.5, 1.0, 2.0, 2.35, 3.05, 9)] == pytest.approx(
        [0.0, 0.0, 0.5, 1.15, 1.15, 1.85, 1.85]
    )
    assert remap_words([{"word": "x", "start": 2.4, "end": 2.9}], kept) == [
        {"word": "x", "start": 1.2, "end": 1.7}
    ]


def test_words_from_character_alignment_and_back_to_the_text():
    chars = list("Hi, you there!")
    starts = [i * 0.1 for i in range(len(chars))]
    ends = [s + 0.1 for s in starts]
    words = words_from_characters(chars, starts, ends)
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        ("Hi,", 0.0, 0.3),
        ("you", 0.4, 0.7),
        ("there!", 0.8, 1.4),
    ]
    spoken = [
        {"word": "Hello", "start": 0, "end": 1},
        {"word": "of", "start": 1, "end": 2},
        {"word": "test", "start": 2, "end": 3},
        {"word": "zzz", "start": 3, "end": 4},
    ]
    aligned = align_to_text('"Hello," said one of the tests.', spoken)
    assert [w["word"] for w in aligned] == ['"Hello," said one', "of the", "tests.", "zzz"]
    # eSpeak reports some words more than once; a real repeat comes back from the text.
    repeated = merge_repeats(
        [{"word": "very", "start": 0, "end": 1}, {"word": "very", "start": 1, "end": 2}]
    )
    assert repeated == [{"word": "very", "start": 0, "end": 2}]
    assert align_to_text("very very", repeated)[0]["word"] == "very very"


def test_words_grouped_into_readable_cues():
    words = [
        {"word": w, "start": i * 0.3, "end": i * 0.3 + 0.25}
        for i, w in enumerate("One two three. Four five six seven eight nine ten eleven".split())
    ]
    words[-1] = {**words[-1], "start": 5.0, "end": 5.4}  # after a long pause
    groups = [" ".join(w["word"] for w in g) for g in group_words(words)]
    assert groups == ["One two three.", "Four five six seven eight nine ten", "eleven"]
    cues = list(srt.parse(words_to_srt(words)))
    assert [c.content for c in cues] == groups
    assert all(c.end > c.start for c in cues)
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))


def test_text_limit_and_rates():
    assert check_text("  hello  ") == "hello"
    with pytest.raises(TtsRequestError, match="5,001 characters long; the maximum is 5,000"):
        check_text("a" * 5001)
    assert [edge_rate(r) for r in (1.0, 1.25, 0.8)] == ["+0%", "+25%", "-20%"]


def test_tightening_shortens_a_long_pause_and_keeps_words_on_their_sounds(paused_speech, tmp_path):
    tightened = tighten_speech(paused_speech.wav, tmp_path)
    loud, duration = sound_map(tightened.wav)
    assert duration == pytest.approx(tightened.duration, abs=0.001)
    # Measured: no lead-in, the long pause is ~0.3 s now, no tail.
    assert np.argmax(loud) * 0.01 <= 0.06
    assert (loud.size - 1 - np.argmax(loud[::-1])) * 0.01 >= duration - 0.07
    assert max(b - a for a, b in silences(loud)) == pytest.approx(0.3, abs=0.03)
    removed = tightened.source_duration - tightened.duration
    assert removed == pytest.approx(LEAD + GAP + TAIL - 0.3 - 0.1, abs=0.06)
    # The first word of the second sentence starts where the sound resumes after the pause.
    words = remap_words(paused_speech.words, tightened.kept)
    second = words[len(espeak.synthesize(FIRST).words)]
    # After tightening every long pause is ~0.3 s, so "the longest" is a tie: look for the sound
    # onset nearest to the word instead, and require the word to sit on it.
    onsets = [end for _, end in silences(loud)]
    assert min(abs(second["start"] - t) for t in onsets) <= 0.05


def test_voices_of_each_provider(monkeypatch, settings):
    offline = list_voices("offline")
    assert {"gmw/en-US", "roa/fr"} <= {v["id"] for v in offline}

    async def edge_list():
        return [
            {
                "ShortName": "en-US-AriaNeural",
                "FriendlyName": "Aria",
                "Locale": "en-US",
                "Gender": "Female",
            }
        ]

    monkeypatch.setattr(edge_tts, "list_voices", edge_list)
    assert list_voices("edge") == [
        {"id": "en-US-AriaNeural", "name": "Aria", "language": "en-US", "gender": "Female"}
    ]

    async def unreachable():
        raise aiohttp.ClientConnectionError("Cannot connect to host")

    monkeypatch.setattr(edge_tts, "list_voices", unreachable)
    with pytest.raises(ProviderUnavailable, match="Cannot connect to host"):
        list_voices("edge")

    settings.ELEVENLABS_API_KEY = "key-1"
    with respx.mock(base_url=settings.ELEVENLABS_BASE_URL) as mock:
        route = mock.get("/v1/voices").respond(
            json={
                "voices": [
                    {
                        "voice_id": "abc123",
                        "name": "Rachel",
                        "labels": {"accent": "american", "gender": "female"},
                    }
                ]
            }
        )
        assert list_voices("elevenlabs") == [
            {"id": "abc123", "name": "Rachel", "language": "american", "gender": "female"}
        ]
        assert route.calls.last.request.headers["xi-api-key"] == "key-1"
    with pytest.raises(TtsRequestError, match="unknown TTS provider"):
        get_provider("polly")


# --- the tts job -------------------------------------------------------------------------------


@e2e
def test_offline_tts_job_tightens_speech_and_saves_timings(user):
    text = "Hello there. This is a test.\n\n\n\nAnd here is the second paragraph."
    raw = espeak.synthesize(text)
    raw_loud = window_db(pcm16(raw) / 32768.0, raw.sample_rate)
    raw_pause = max(b - a for a, b in silences(raw_loud > raw_loud.max() - 40))
    assert raw_pause > 0.45  # eSpeak pauses at the paragraph break

    job = run(job_create(job_type="tts", params={"text": text, "provider": "offline"}, owner=user))
    assert job.status == JobStatus.COMPLETED, job.error
    result, files = job.result, job_files(job)
    assert set(files) == {"audio", "srt", "words"}
    assert (result["provider"], result["voice"], result["fallback"]) == ("offline", "en", None)
    assert result["characters"] == len(text)
    assert job.progress == 100

    info = probe_media(files["audio"])
    assert info.audio_codec == "aac" and not info.has_video
    assert info.duration == pytest.approx(result["duration"], abs=0.06)
    loud, _ = sound_map(files["audio"])
    assert max(b - a for a, b in silences(loud)) <= 0.33  # the paragraph pause was shortened
    assert raw.duration - result["duration"] >= raw_pause - 0.3 - 0.05

    words = json.loads(files["words"].read_text())
    assert words[0]["start"] <= 0.06 and np.argmax(loud) * 0.01 <= 0.08
    assert words[-1]["end"] == pytest.approx(result["duration"], abs=0.08)
    assert all(a["start"] <= b["start"] for a, b in itertools.pairwise(words))
    cues = list(srt.parse(files["srt"].read_text()))
    assert " ".join(c.content for c in cues) == " ".join(text.split())
    assert cues[0].content == "Hello there." and len(cues) >= 3


@e2e
def test_text_over_the_limit_is_refused_before_a_job_exists(user):
    with pytest.raises(InvalidJobParams) as err:
        job_create(job_type="tts", params={"text": "a" * 5001, "provider": "offline"}, owner=user)
    assert err.value.details[0]["loc"] == ["params", "text"]
    assert "5,001 characters long; the maximum is 5,000" in err.value.details[0]["msg"]
    assert Job.objects.count() == 0
    assert get_job_type("tts").parse_params({"text": "a" * 5000}).provider == "edge"
    with pytest.raises(InvalidJobParams):
        job_create(job_type="tts", params={"text": "Hi", "voice": "gmw/../../etc"}, owner=user)


@e2e
def test_offline_unknown_voice_is_a_permanent_failure(user):
    job = run(
        job_create(
            job_type="tts",
            params={"text": "Hi.", "provider": "offline", "voice": "xx-zz"},
            owner=user,
        )
    )
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "unknown eSpeak voice 'xx-zz'" in job.error


@e2e
def test_edge_tts_job_uses_word_boundaries_and_shortens_the_pause(user, monkeypatch, paused_speech):
    monkeypatch.setattr(
        edge_tts, "Communicate", fake_communicate(paused_speech.mp3, paused_speech.words)
    )
    text = f"{FIRST} {SECOND}"
    job = run(job_create(job_type="tts", params={"text": text}, owner=user))  # edge: the default
    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["provider"], job.result["voice"]) == ("edge", "en-US-AriaNeural")
    files = job_files(job)
    assert set(files) == {"audio", "srt", "words"}

    source = LEAD + paused_speech.first_len + GAP + paused_speech.second_len + TAIL
    assert job.result["source_duration"] == pytest.approx(source, abs=0.1)
    expected = paused_speech.first_len + 0.3 + paused_speech.second_len + 0.1
    assert probe_media(files["audio"]).duration == pytest.approx(expected, abs=0.12)

    loud, duration = sound_map(files["audio"])
    pauses = silences(loud)
    assert np.argmax(loud) * 0.01 <= 0.08  # LEAD trimmed
    assert max(b - a for a, b in pauses) <= 0.33  # GAP shortened
    words = json.loads(files["words"].read_text())
    assert words[0]["word"] == "Hello" and words[0]["start"] <= 0.06  # the edge pad: 0.05 s
    assert words[0]["start"] == pytest.approx(np.argmax(loud) * 0.01, abs=0.03)
    second = next(w for w in words if w["word"] == "Here")
    # The shortened GAP is the silence the second part's first word follows (eSpeak's own pause
    # between the first part's two sentences can be as long, so "the longest" proves nothing).
    gap = min(pauses, key=lambda g: abs(g[1] - second["start"]))
    assert second["start"] == pytest.approx(gap[1], abs=0.06)
    assert 0.2 <= gap[1] - gap[0] <= 0.33
    assert words[-1]["end"] <= duration + 0.01
    cues = [c.content for c in srt.parse(files["srt"].read_text())]
    assert cues[:2] == ["Hello there.", "This is the first part."]
    assert " ".join(cues) == text


@e2e
def test_edge_unreachable_falls_back_offline_by_default_or_fails_readably(
    user, monkeypatch, settings
):
    error = aiohttp.ClientConnectionError("Cannot connect to host speech.platform.bing.com:443")
    monkeypatch.setattr(edge_tts, "Communicate", fake_communicate(b"", [], fail=error))
    params = {"text": "Hello there.", "provider": "edge", "voice": "fr-FR-DeniseNeural"}
    reason = (
        "edge-tts could not be reached (the connection to the service failed "
        "(Cannot connect to host speech.platform.bing.com:443))"
    )
    job = run(job_create(job_type="tts", params=params, owner=user))  # the fallback: on
    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["provider"], job.result["voice"]) == ("offline", "roa/fr")
    assert job.result["requested_provider"] == "edge"
    assert job.result["fallback"] == {"from": "edge", "reason": reason}
    assert job.result["notices"] == [job.result["notice"]]
    assert reason in job.result["notice"] and "offline voice" in job.result["notice"]
    assert probe_media(job_files(job)["audio"]).duration > 0.3

    settings.TTS_OFFLINE_FALLBACK = False
    failed = run(job_create(job_type="tts", params=params, owner=user, max_attempts=1))
    assert failed.status == JobStatus.FAILED
    assert failed.error == (
        f"{reason}. Use the offline voice (provider offline: tts_provider=offline in a clip's "
        "content) or set EF_TTS_OFFLINE_FALLBACK=1 to have it stand in automatically."
    )


# --- ElevenLabs --------------------------------------------------------------------------------

VOICE = "21m00Tcm4TlvDq8ikWAM"
TTS_URL = f"/v1/text-to-speech/{VOICE}/with-timestamps"


def character_alignment(text: str, words: list[dict]) -> dict:
    """ElevenLabs-style alignment: each whitespace token of `text` spread over its word's time."""
    chars, starts, ends = [], [], []
    tokens = iter(words)
    word, offset = None, 0
    for i, char in enumerate(text):
        if char.isspace():
            word = None
            chars.append(char)
            starts.append(ends[-1] if ends else 0.0)
            ends.append(ends[-1] if ends else 0.0)
            continue
        if word is None:
            word, offset = next(tokens), i
            length = len(text[i:].split()[0])
        step = (word["end"] - word["start"]) / length
        chars.append(char)
        starts.append(word["start"] + (i - offset) * step)
        ends.append(word["start"] + (i - offset + 1) * step)
    return {
        "characters": chars,
        "character_start_times_seconds": starts,
        "character_end_times_seconds": ends,
    }


@pytest.fixture(scope="module")
def elevenlabs_answer(tmp_path_factory) -> tuple[str, dict]:
    text = "Hello there. This is a test."
    speech = espeak.synthesize(text)
    assert len(speech.words) == len(text.split())
    wav = write_wav(tmp_path_factory.mktemp("el") / "el.wav", speech.sample_rate, pcm16(speech))
    audio = base64.b64encode(encode_mp3(wav, 44100)).decode()
    return text, {"audio_base64": audio, "alignment": character_alignment(text, speech.words)}


def elevenlabs_api(settings, answer: dict, *, key: str = "el-key"):
    """The API as it behaves: its key and a JSON body with the configured model are required."""

    def respond(request):
        if request.headers.get("xi-api-key") != key:
            return httpx.Response(
                401, json={"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
            )
        body = json.loads(request.content)
        if body.get("model_id") != settings.ELEVENLABS_MODEL or not body.get("text"):
            return httpx.Response(422, json={"detail": [{"msg": "bad body"}]})
        return httpx.Response(200, json=answer)

    mock = respx.mock(base_url=settings.ELEVENLABS_BASE_URL, assert_all_called=False)
    mock.post(TTS_URL, params={"output_format": "mp3_44100_128"}).mock(side_effect=respond)
    return mock


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"detail": {"status": "quota_exceeded", "message": "Quota used up"}},
         TtsRequestError, "ElevenLabs quota exceeded (HTTP 401: Quota used up): add credits to "
         "the account, or choose another provider (tts_provider=edge or offline)"),
        (404, {"detail": {"status": "voice_not_found", "message": "Voice not found"}},
         InvalidVoiceError, f"ElevenLabs has no voice '{VOICE}' (HTTP 404: Voice not found)"),
        (429, {"detail": {"message": "Too many requests"}},
         ProviderUnavailable, "ElevenLabs is unavailable (HTTP 429: Too many requests)"),
        (503, "<html>down</html>",
         ProviderUnavailable, "ElevenLabs is unavailable (HTTP 503: Service Unavailable)"),
    ],
)  # fmt: skip
def test_elevenlabs_errors_are_sorted_permanent_or_transient(
    settings, tmp_path, status, body, error, message
):
    settings.ELEVENLABS_API_KEY = "el-key"
    provider = get_provider("elevenlabs")
    with respx.mock(base_url=settings.ELEVENLABS_BASE_URL) as mock:
        answer = {"json": body} if isinstance(body, dict) else {"text": body}
        mock.post(TTS_URL).respond(status, **answer)
        with pytest.raises(error) as raised:
            provider.synthesize("Hi.", voice=VOICE, out_dir=tmp_path)
    assert str(raised.value) == message
    assert raised.value.permanent == (error is not ProviderUnavailable)
    with pytest.raises(InvalidVoiceError, match="invalid ElevenLabs voice id"):
        provider.synthesize("Hi.", voice="../../v1/user", out_dir=tmp_path)
    with pytest.raises(TtsRequestError, match="rates 0.7–1.2 only"):
        provider.synthesize("Hi.", voice=VOICE, out_dir=tmp_path, rate=2.0)


@e2e
def test_elevenlabs_job_records_the_cost_of_its_characters(user, settings, elevenlabs_answer):
    text, answer = elevenlabs_answer
    settings.ELEVENLABS_API_KEY = "el-key"
    with elevenlabs_api(settings, answer):
        job = run(
            job_create(job_type="tts", params={"text": text, "provider": "elevenlabs"}, owner=user)
        )
    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["provider"], job.result["voice"]) == ("elevenlabs", VOICE)
    (cost,) = CostEntry.objects.filter(job=job)
    assert (cost.service, cost.operation, cost.unit_name) == ("elevenlabs", "tts", "characters")
    assert cost.units == len(text) and cost.owner == user
    assert cost.audio_seconds == pytest.approx(Decimal(str(job.result["source_duration"])))
    assert cost.details == {"voice": VOICE, "model": settings.ELEVENLABS_MODEL}
    rate = Decimal(str(settings.COST_RATES["elevenlabs.characters"]))
    assert cost.cost_usd == (len(text) * rate).quantize(Decimal("0.000001")) > 0
    files = job_files(job)
    words = json.loads(files["words"].read_text())
    assert [w["word"] for w in words] == text.split()
    assert [c.content for c in srt.parse(files["srt"].read_text())] == [
        "Hello there.",
        "This is a test.",
    ]
    assert probe_media(files["audio"]).duration == pytest.approx(job.result["duration"], abs=0.06)


@e2e
def test_elevenlabs_rejected_key_and_missing_key_fail_permanently(
    user, settings, elevenlabs_answer
):
    text, answer = elevenlabs_answer
    params = {"text": text, "provider": "elevenlabs"}
    settings.ELEVENLABS_API_KEY = "wrong-key"
    with elevenlabs_api(settings, answer, key="el-key"):
        settings.TTS_OFFLINE_FALLBACK = True  # a bad key is not "unreachable": no fallback
        job = run(job_create(job_type="tts", params=params, owner=user))
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error == (
        "ElevenLabs rejected the API key (HTTP 401: Invalid API key): check ELEVENLABS_API_KEY, "
        "or choose another provider (tts_provider=edge or offline)"
    )

    settings.ELEVENLABS_API_KEY = ""
    job = run(job_create(job_type="tts", params=params, owner=user))
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error == (
        "ElevenLabs is not configured (no API key): set ELEVENLABS_API_KEY to use it, "
        "or choose another provider (tts_provider=edge or offline)"
    )
    assert not CostEntry.objects.exists()


@e2e
def test_elevenlabs_unreachable_retries_fails_or_falls_back_offline(user, settings):
    settings.ELEVENLABS_API_KEY = "el-key"
    params = {"text": "Hello there.", "provider": "elevenlabs"}
    with respx.mock(base_url=settings.ELEVENLABS_BASE_URL, assert_all_called=False) as mock:
        mock.post(TTS_URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
        fallback = run(job_create(job_type="tts", params=params, owner=user))  # default: on
        settings.TTS_OFFLINE_FALLBACK = False
        retrying = run(job_create(job_type="tts", params=params, owner=user))
        # Its backoff made long: the next burst's claim (the queue's oldest due job) takes the
        # next job, not this one's second attempt.
        Job.objects.filter(id=retrying.id).update(run_after=timezone.now() + timedelta(hours=1))
        failed = run(job_create(job_type="tts", params=params, owner=user, max_attempts=1))
    reason = (
        "ElevenLabs could not be reached (the connection to api.elevenlabs.io failed "
        "([Errno 111] Connection refused))"
    )
    message = f"{reason}. Use the offline voice (provider offline: tts_provider=offline in a "
    assert retrying.status == JobStatus.QUEUED and retrying.attempts == 1  # transient: retried
    assert retrying.error.startswith(message)
    assert failed.status == JobStatus.FAILED and failed.error == retrying.error
    assert fallback.status == JobStatus.COMPLETED, fallback.error
    assert fallback.result["provider"] == "offline"
    assert fallback.result["fallback"] == {"from": "elevenlabs", "reason": reason}
    assert set(job_files(fallback)) == {"audio", "srt", "words"}
    (usage,) = CostEntry.objects.all()  # what spoke: offline, free; ElevenLabs billed nothing
    assert (usage.job_id, usage.service, usage.cost_usd) == (fallback.id, "offline", 0)
    assert usage.details["requested_provider"] == "elevenlabs"


# --- the add_tts job ---------------------------------------------------------------------------


@e2e
def test_add_tts_mixes_one_voice_over_onto_two_videos(user, media):
    with_audio, without_audio = media.video(seconds=4), media.video(seconds=3, audio=False)
    voice = media.speech_wav("Hello there.")
    voice_len = probe_media(voice).duration
    assert voice_len < 1.5
    inputs = {
        "audio": File(open(voice, "rb"), name="voice.wav"),
        "video_0": File(open(with_audio, "rb"), name="a.mp4"),
        "video_1": File(open(without_audio, "rb"), name="b.mp4"),
    }
    job = run(job_create(job_type="add_tts", params={"videos": 2}, owner=user, inputs=inputs))
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.progress == 100 and job.result["duck_level"] == 0.1
    files = job_files(job)
    assert set(files) == {"video_0", "video_1"}

    for label, source, seconds in (("video_0", with_audio, 4), ("video_1", without_audio, 3)):
        out = files[label]
        assert stream_counts(out) == (1, 1)
        assert probe_media(out).duration == pytest.approx(seconds, abs=0.1)
        assert video_packets(out) == video_packets(source)  # copied, not re-encoded

    # Where the voice is silent, the original tone plays at 10 %: 20 dB lower.
    quiet = (voice_len + 0.5, 3.8)
    ducked = rms_db(files["video_0"], *quiet) - rms_db(with_audio, *quiet)
    assert ducked == pytest.approx(-20.0, abs=1.0)
    speaking = rms_db(files["video_0"], 0.1, voice_len - 0.1)
    assert speaking > rms_db(files["video_0"], *quiet) + 6
    # The silent video gets the voice alone, then silence to its end.
    assert rms_db(files["video_1"], 0.1, voice_len - 0.1) > -35
    assert rms_db(files["video_1"], voice_len + 0.3, 2.9) < -70
    assert [o["original_audio"] for o in job.result["outputs"]] == ["ducked", "none"]


@e2e
def test_add_tts_refuses_bad_params_and_missing_inputs(user, media):
    with pytest.raises(InvalidJobParams):
        job_create(job_type="add_tts", params={"videos": 1, "duck_level": 1.5}, owner=user)
    inputs = {
        "audio": File(open(media.speech_wav("Hi."), "rb"), name="v.wav"),
        "video_0": File(open(media.video(seconds=1), "rb"), name="a.mp4"),
    }
    job = run(job_create(job_type="add_tts", params={"videos": 2}, owner=user, inputs=inputs))
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error == "missing input 'video_1'"
