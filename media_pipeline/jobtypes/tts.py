"""The `tts` job type (speech from text, tightened, with word timings as SRT and JSON) and the
`add_tts` job type (a TTS track mixed onto one or more videos, the original audio ducked)."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pydantic
from django.conf import settings

from jobs.queues import RENDERS
from jobs.registry import register
from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.ffmpeg_run import run_ffmpeg
from media_pipeline.ops.probe import probe_media, require_video
from media_pipeline.ops.tts.commands import build_add_tts_args, build_encode_args, output_suffix
from media_pipeline.ops.tts.timings import remap_words, words_to_json, words_to_srt

# Voice ids of every provider: "en-US-AriaNeural", "21m00Tcm4TlvDq8ikWAM", "gmw/en-US",
# "English (America)". Nothing that could act as a path or URL beyond these characters, and no
# ".." (checked by the validator below).
VOICE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _()./+-]{0,99}$"
MAX_VIDEOS = 10


class TtsParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    text: str = pydantic.Field(json_schema_extra={"maxLength": settings.TTS_MAX_CHARS})
    provider: Literal["edge", "elevenlabs", "offline"] = pydantic.Field(
        default_factory=lambda: settings.TTS_DEFAULT_PROVIDER, validate_default=True
    )
    voice: str | None = pydantic.Field(None, pattern=VOICE_PATTERN)
    rate: float = pydantic.Field(1.0, ge=0.5, le=2.0, description="speed factor, 1.0 = normal")
    max_pause: float = pydantic.Field(
        0.3, ge=0.05, le=5.0, description="longer inner pauses are shortened to this (seconds)"
    )

    @pydantic.field_validator("text")
    @classmethod
    def text_within_limit(cls, text: str) -> str:
        text = text.strip()
        if not text:
            raise ValueError("the text is empty")
        limit = settings.TTS_MAX_CHARS
        if len(text) > limit:
            raise ValueError(f"the text is {len(text):,} characters long; the maximum is {limit:,}")
        return text

    @pydantic.field_validator("voice")
    @classmethod
    def voice_is_no_path(cls, voice: str | None) -> str | None:
        if voice and ".." in voice:
            raise ValueError("a voice name cannot contain '..'")
        return voice


@dataclass
class Voiceover:
    wav: Path
    duration: float
    source_duration: float
    words: list[dict] | None
    provider: str
    voice: str
    characters: int
    fallback: dict | None
    requested_provider: str = ""
    notice: str | None = None  # the fallback in one sentence, None when the chosen one spoke

    def summary(self) -> dict:
        """What a job result says of its voice-over: who spoke it, and why when it was not the
        provider asked for."""
        return {
            "provider": self.provider,
            "requested_provider": self.requested_provider,
            "voice": self.voice,
            "duration": self.duration,
            "characters": self.characters,
            "fallback": self.fallback,
            "notice": self.notice,
        }


def record_tts_usage(ctx, speech, *, audio_seconds: float | None) -> None:
    """Every TTS call in the cost ledger, under the provider that spoke: characters (what
    ElevenLabs bills; edge and offline cost $0 in COST_RATES) and seconds of audio produced."""
    details = {"voice": speech.voice}
    if speech.provider == "elevenlabs":
        details["model"] = settings.ELEVENLABS_MODEL
    if speech.fallback:
        details["requested_provider"] = speech.fallback["from"]
        details["fallback_reason"] = speech.fallback["reason"]
    ctx.record_cost(
        service=speech.provider,
        operation="tts",
        units=speech.audio.characters,
        unit_name="characters",
        audio_seconds=None if audio_seconds is None else round(audio_seconds, 3),
        details=details,
    )


def make_voiceover(ctx, params: TtsParams, *, start: float, end: float) -> Voiceover:
    """Synthesize, tighten the pauses (word timings remapped) and record the call's usage.
    Reports progress within [start, end] of the job. Shared by `tts` and `render_clip`."""
    # Imported here, not at the top: numpy and the providers' HTTP clients (~20 MB) would
    # otherwise sit in every worker, and in every render's work horse, that never speaks.
    from media_pipeline.ops.tts.silence import PausePolicy, tighten_speech
    from media_pipeline.ops.tts.synthesis import speak

    ctx.progress(start, "synthesize", f"Synthesizing speech ({params.provider})")
    speech = speak(
        params.text,
        provider=params.provider,
        voice=params.voice,
        rate=params.rate,
        out_dir=ctx.temp_dir,
        offline_fallback=settings.TTS_OFFLINE_FALLBACK,
    )
    middle = start + (end - start) * 0.6
    try:
        tightened = tighten_speech(
            speech.audio.path,
            ctx.temp_dir,
            policy=PausePolicy(max_pause=params.max_pause),
            on_progress=ctx.stage(middle, end, "trim", "Trimming silence"),
        )
    except Exception:
        record_tts_usage(ctx, speech, audio_seconds=None)  # spoken (and billed) all the same
        raise
    record_tts_usage(ctx, speech, audio_seconds=tightened.source_duration)
    words = remap_words(speech.audio.words, tightened.kept) if speech.audio.words else None
    return Voiceover(
        wav=tightened.wav,
        duration=round(tightened.duration, 3),
        source_duration=round(tightened.source_duration, 3),
        words=words,
        provider=speech.provider,
        voice=speech.voice,
        characters=speech.audio.characters,
        fallback=speech.fallback,
        requested_provider=speech.requested,
        notice=speech.notice,
    )


def estimate_tts_cost(params: TtsParams) -> Decimal:
    """What the job will cost (budgets): ElevenLabs bills each character, the others are free."""
    if params.provider != "elevenlabs":
        return Decimal(0)
    return len(params.text) * Decimal(str(settings.COST_RATES.get("elevenlabs.characters", 0)))


@register(
    "tts",
    params_schema=TtsParams,
    max_attempts=3,
    timeout=900,
    label="Text to speech",
    estimate_cost=estimate_tts_cost,
)
def tts_handler(ctx, params: TtsParams) -> dict:
    voiceover = make_voiceover(ctx, params, start=1, end=60)
    audio_path = ctx.temp_dir / "speech.m4a"
    run_ffmpeg(
        build_encode_args(str(voiceover.wav), str(audio_path)),
        duration=voiceover.duration,
        on_progress=ctx.stage(60, 90, "encode", "Encoding audio"),
        tracker=ctx,
    )
    ctx.progress(92, "save", "Saving files")
    _save_outputs(ctx, audio_path, voiceover.words)
    ctx.progress(100, "done", "Speech ready")
    return {
        "provider": voiceover.provider,
        "requested_provider": params.provider,
        "voice": voiceover.voice,
        "duration": voiceover.duration,
        "source_duration": voiceover.source_duration,
        "characters": voiceover.characters,
        "words": len(voiceover.words or []),
        "fallback": voiceover.fallback,
        "notice": voiceover.notice,
        "notices": [voiceover.notice] if voiceover.notice else [],
    }


def _save_outputs(ctx, audio_path, words: list[dict] | None) -> None:
    ctx.add_file(audio_path, label="audio", filename="speech.m4a")
    words_path = ctx.temp_dir / "words.json"
    words_path.write_text(words_to_json(words or []), encoding="utf-8")
    ctx.add_file(words_path, label="words", filename="words.json")
    if words:
        srt_path = ctx.temp_dir / "speech.srt"
        srt_path.write_text(words_to_srt(words), encoding="utf-8")
        ctx.add_file(srt_path, label="srt", filename="speech.srt")


class AddTtsParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    videos: int = pydantic.Field(
        1, ge=1, le=MAX_VIDEOS, description="number of video inputs: video_0, video_1, ..."
    )
    duck_level: float = pydantic.Field(
        0.10, ge=0.0, le=1.0, description="level of the original audio (0.10 = 10 %)"
    )
    speech: TtsParams | None = pydantic.Field(
        None,
        description="speak this text (the `tts` job's params) as the voice-over instead of "
        "taking an `audio` input",
    )
    output_suffix: str = pydantic.Field(
        "_tts",
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="the outputs are named <input label><output_suffix>.<ext>",
    )


def estimate_add_tts_cost(params: AddTtsParams) -> Decimal:
    return estimate_tts_cost(params.speech) if params.speech else Decimal(0)


def _voiceover_track(ctx, params: AddTtsParams) -> Path:
    """The `audio` input, or the speech of `params.speech` (job progress 1-30 %)."""
    if params.speech is None:
        return ctx.input_path("audio")
    return make_voiceover(ctx, params.speech, start=1, end=30).wav


def _probe_inputs(ctx, count: int, tts_path: Path) -> tuple:
    tts_info = probe_media(tts_path)
    if not tts_info.has_audio:
        raise InvalidMediaError("input 'audio' has no audio stream")
    videos = []
    for i in range(count):
        label = f"video_{i}"
        path = ctx.input_path(label)
        videos.append((label, path, require_video(probe_media(path), label=f"input '{label}'")))
    return tts_path, tts_info, videos


@register(
    "add_tts",
    queue=RENDERS,
    params_schema=AddTtsParams,
    max_attempts=2,
    timeout=1800,
    label="Add TTS",
    estimate_cost=estimate_add_tts_cost,
)
def add_tts_handler(ctx, params: AddTtsParams) -> dict:
    ctx.progress(1, "probe", "Reading the inputs")
    tts_path, tts_info, videos = _probe_inputs(ctx, params.videos, _voiceover_track(ctx, params))
    first = 30.0 if params.speech else 5.0
    span = (100.0 - first) / len(videos)
    outputs = []
    for i, (label, path, info) in enumerate(videos):
        filename = f"{label}{params.output_suffix}{output_suffix(info.format)}"
        out = ctx.temp_dir / filename
        args = build_add_tts_args(
            str(path),
            str(tts_path),
            str(out),
            duration=info.duration,
            duck_level=params.duck_level,
            has_audio=info.has_audio,
        )
        report = ctx.stage(
            first + span * i,
            first + span * (i + 1),
            "mix",
            f"Mixing video {i + 1} of {len(videos)}",
        )
        run_ffmpeg(args, duration=info.duration, on_progress=report, tracker=ctx)
        ctx.add_file(out, label=label, filename=filename)
        outputs.append(
            {
                "label": label,
                "duration": probe_media(out).duration,
                "original_audio": "ducked" if info.has_audio else "none",
                "tts_cut": tts_info.duration > info.duration + 0.05,
            }
        )
    ctx.progress(100, "done", "Voice-over added")
    return {
        "duck_level": params.duck_level,
        "tts_duration": tts_info.duration,
        "outputs": outputs,
    }
