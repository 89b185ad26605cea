"""Matching secondary videos' keywords against subtitle cues (multi-video edits).

Matching is case- and diacritics-insensitive and fuzzy (rapidfuzz), so "Bucuresti" finds
"București" and small spelling differences still match.
"""

import unicodedata
from dataclasses import dataclass

MIN_INSERT, MAX_INSERT = 0.5, 5.0


@dataclass(frozen=True)
class Cue:
    index: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Insert:
    source: int  # which secondary video
    keyword: str
    cue: int
    start: float
    duration: float


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join("".join(ch if ch.isalnum() else " " for ch in plain).split())


def keyword_in(keyword: str, text: str, *, threshold: float) -> bool:
    """True when the keyword (one or more words) appears in the text, allowing small typos."""
    key, body = normalise(keyword), normalise(text)
    if not key or not body:
        return False
    if key in body:
        return True
    from rapidfuzz import fuzz  # here: the admin imports this module in every process

    return fuzz.partial_ratio(key, body) >= threshold


def find_inserts(
    cues: list[Cue],
    keywords: list[list[str]],
    *,
    threshold: float = 80.0,
    duration: float | None = None,
) -> list[Insert]:
    """For each secondary video (its keyword list), the cues that mention one of its keywords.
    Inserts last `duration` seconds, or as long as their cue (clamped to 0.5–5 s), and never
    overlap each other."""
    inserts: list[Insert] = []
    for cue in sorted(cues, key=lambda c: c.start):
        for source, words in enumerate(keywords):
            hit = next((w for w in words if keyword_in(w, cue.text, threshold=threshold)), None)
            if hit is None:
                continue
            length = duration or min(max(cue.end - cue.start, MIN_INSERT), MAX_INSERT)
            if inserts and cue.start < inserts[-1].start + inserts[-1].duration:
                break  # the previous insert is still on screen
            inserts.append(Insert(source, hit, cue.index, cue.start, round(length, 3)))
            break
    return inserts
