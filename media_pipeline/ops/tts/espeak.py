"""Offline speech with eSpeak NG, loaded from the espeakng-loader wheel (no system package).

The library is driven through ctypes in synchronous mode: samples and word events arrive
through a callback. eSpeak keeps global state, so calls are serialised with a lock.
"""

import ctypes
import functools
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EE_OK = 0


class EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character offset in the text
        ("length", ctypes.c_int),  # characters in the word
        ("audio_position", ctypes.c_int),  # milliseconds from the start
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


class EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(EspeakEvent)
)
_lock = threading.Lock()


class EspeakError(RuntimeError):
    pass


@dataclass
class SpeechResult:
    sample_rate: int
    samples: bytes  # 16-bit signed mono PCM
    words: list[dict]  # {"word", "start", "end"} in seconds (end estimated from the next word)

    @property
    def duration(self) -> float:
        return len(self.samples) / 2 / self.sample_rate

    def write_wav(self, path: Path) -> Path:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(self.samples)
        return path


@functools.cache
def _library():
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(EspeakVoice))
    sample_rate = lib.espeak_Initialize(
        AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
    )
    if sample_rate <= 0:
        raise EspeakError("eSpeak NG failed to initialise")
    return lib, sample_rate


def list_voices() -> list[dict]:
    with _lock:
        lib, _ = _library()
        voices = lib.espeak_ListVoices(None)
        found, i = [], 0
        while voices[i]:
            voice = voices[i].contents
            languages = voice.languages[1:].split(b"\0", 1)[0].decode() if voice.languages else ""
            found.append(
                {
                    "id": voice.identifier.decode(),
                    "name": voice.name.decode(),
                    "language": languages,
                }
            )
            i += 1
    return found


def synthesize(text: str, *, voice: str = "en", rate_wpm: int = 175) -> SpeechResult:
    """Speak `text`; returns PCM samples and word timings. Raises EspeakError."""
    with _lock:
        lib, sample_rate = _library()
        chunks: list[bytes] = []
        events: list[tuple[int, int, int]] = []  # (audio ms, text position, length)

        def on_audio(wav, count, event_ptr):
            if count > 0:
                chunks.append(ctypes.string_at(wav, count * 2))
            i = 0
            while event_ptr[i].type != EVENT_LIST_TERMINATED:
                ev = event_ptr[i]
                if ev.type == EVENT_WORD:
                    events.append((ev.audio_position, ev.text_position, ev.length))
                i += 1
            return 0

        callback = SYNTH_CALLBACK(on_audio)  # kept referenced until synthesis returns
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise EspeakError(f"unknown eSpeak voice '{voice}'")
        lib.espeak_SetParameter(ESPEAK_RATE, rate_wpm, 0)
        data = text.encode("utf-8") + b"\0"
        if lib.espeak_Synth(data, len(data), 0, 0, 0, ESPEAK_CHARS_UTF8, None, None) != EE_OK:
            raise EspeakError("eSpeak NG synthesis failed")
        lib.espeak_Synchronize()
    samples = b"".join(chunks)
    return SpeechResult(
        sample_rate, samples, _word_timings(text, events, len(samples) / 2 / sample_rate)
    )


def _word_timings(text: str, events, total: float) -> list[dict]:
    words = []
    for n, (ms, position, length) in enumerate(events):
        word = text[position - 1 : position - 1 + length].strip()  # 1-based character offsets
        end = events[n + 1][0] / 1000 if n + 1 < len(events) else total
        if word:
            words.append({"word": word, "start": round(ms / 1000, 3), "end": round(end, 3)})
    return words
