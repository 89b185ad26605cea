"""Word timings: built from character alignments, remapped after silence cuts, written as SRT
(words grouped into readable cues, composed by the `srt` library) and as word-level JSON."""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import srt

SENTENCE_END = (".", "!", "?", "…", ":", ";")
MIN_CUE = 0.05  # seconds: a cue always ends after it starts


@dataclass(frozen=True)
class CueLimits:
    max_chars: int = 42  # one comfortable subtitle line
    max_words: int = 8
    max_duration: float = 3.5
    max_gap: float = 0.6  # a pause this long between words starts a new cue


def words_from_characters(
    characters: Sequence[str], starts: Sequence[float], ends: Sequence[float]
) -> list[dict]:
    """Words from a character-level alignment (ElevenLabs): runs of non-space characters."""
    words: list[dict] = []
    current: list[int] = []
    for i, char in enumerate([*characters, " "]):
        if not char.isspace():
            current.append(i)
            continue
        if current:
            words.append(
                {
                    "word": "".join(characters[j] for j in current),
                    "start": round(float(starts[current[0]]), 3),
                    "end": round(float(ends[current[-1]]), 3),
                }
            )
            current = []
    return words


def align_to_text(text: str, words: list[dict]) -> list[dict]:
    """Give each timed word the exact span of the source text it speaks, up to the next timed
    word: punctuation comes back ("there" -> "there.", which lets cues end at sentences) and
    words a provider spoke in one breath ("of" for "of the") are not lost. A word not found in
    the text keeps its own spelling."""
    positions: list[int | None] = []
    cursor = 0
    for word in words:
        found = _find_word(text, word["word"], cursor)
        positions.append(found)
        if found is not None:
            cursor = found + len(word["word"])
    aligned = []
    for k, (word, pos) in enumerate(zip(words, positions, strict=True)):
        if pos is None:
            aligned.append(dict(word))
            continue
        start = 0 if k == 0 else pos  # leading quotes or dashes belong to the first word
        nxt = positions[k + 1] if k + 1 < len(words) else len(text)
        end = nxt if nxt is not None else _token_end(text, pos + len(word["word"]))
        aligned.append({**word, "word": " ".join(text[start:end].split()) or word["word"]})
    return aligned


def _find_word(text: str, word: str, start: int) -> int | None:
    """Where `word` begins in `text` from `start`, ignoring case, not inside another word ("a"
    in "that"). Searched in the text itself: lowering it first could shift positions."""
    if not word:
        return None
    match = re.compile(r"(?<!\w)" + re.escape(word), re.IGNORECASE).search(text, start)
    return match.start() if match else None


def _token_end(text: str, index: int) -> int:
    """The end of the token containing `index` (trailing punctuation included)."""
    while index < len(text) and not text[index].isspace():
        index += 1
    return index


def remap_time(t: float, kept: Sequence[tuple[float, float]]) -> float:
    """Where time `t` of the original audio lands once only the `kept` spans (in order, in
    seconds) remain. A time inside a removed span lands on the cut."""
    out = 0.0
    for start, end in kept:
        if t <= start:
            return out
        if t < end:
            return out + (t - start)
        out += end - start
    return out


def remap_words(words: list[dict], kept: Sequence[tuple[float, float]]) -> list[dict]:
    return [
        {
            "word": w["word"],
            "start": round(remap_time(w["start"], kept), 3),
            "end": round(remap_time(w["end"], kept), 3),
        }
        for w in words
    ]


def group_words(words: list[dict], limits: CueLimits = CueLimits()) -> list[list[dict]]:
    """Consecutive words grouped into cues: a cue ends at a sentence end, before a long pause, or
    before it would grow past the character, word or duration limits."""
    cues: list[list[dict]] = []
    current: list[dict] = []
    for word in words:
        if current and _starts_new_cue(current, word, limits):
            cues.append(current)
            current = []
        current.append(word)
    if current:
        cues.append(current)
    return cues


def _starts_new_cue(current: list[dict], word: dict, limits: CueLimits) -> bool:
    last = current[-1]
    text = " ".join(w["word"] for w in [*current, word])
    return (
        last["word"].endswith(SENTENCE_END)
        or word["start"] - last["end"] > limits.max_gap
        or len(current) >= limits.max_words
        or len(text) > limits.max_chars
        or word["end"] - current[0]["start"] > limits.max_duration
    )


def words_to_srt(words: list[dict], limits: CueLimits = CueLimits()) -> str:
    groups = group_words(words, limits)
    subtitles = []
    for n, group in enumerate(groups):
        start = group[0]["start"]
        end = max(group[-1]["end"], start + MIN_CUE)
        if n + 1 < len(groups):  # never overlap the next cue
            end = max(min(end, groups[n + 1][0]["start"]), start + MIN_CUE)
        subtitles.append(
            srt.Subtitle(
                index=n + 1,
                start=timedelta(seconds=start),
                end=timedelta(seconds=end),
                content=" ".join(w["word"] for w in group),
            )
        )
    return srt.compose(subtitles)


def words_to_json(words: list[dict]) -> str:
    return json.dumps(words, ensure_ascii=False, indent=1)
