"""What a clip render says about itself beyond the output's numbers: the sync policy it followed,
whether karaoke lit the words, the subtitle cues that fell outside the output, and warnings in
words for what it could not do as asked.

The cue rule (one rule, documented in docs/media.md): cues are measured against the rendered
output's duration, known only once the render is made (it depends on the voice-over and the sync
policy), so content is never refused for them. A cue that starts at or after the output's end is
`dropped` (never shown); a cue that starts before it and ends after it is `cut` (shown until the
end). Both are listed in `cues_outside` and named in `warnings`.
"""

from media_pipeline.ops.srt_validation import require_valid_srt

DROPPED, CUT = "dropped", "cut"


def cues_outside(srt_text: str | None, duration: float) -> list[dict]:
    """The cues of `srt_text` that do not fit in `duration` seconds, in order:
    `{index, start, end, text, outcome}` with outcome `dropped` or `cut`."""
    if not srt_text:
        return []
    outside = []
    for number, cue in enumerate(require_valid_srt(srt_text).cues, start=1):
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        if end <= duration:
            continue
        outside.append(
            {
                "index": cue.index or number,
                "start": round(start, 3),
                "end": round(end, 3),
                "text": cue.content,
                "outcome": DROPPED if start >= duration else CUT,
            }
        )
    return outside


def _numbers(cues: list[dict]) -> str:
    names = [str(c["index"]) for c in cues]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"cue{'s' if len(names) > 1 else ''} {listed}"


def cue_warnings(cues: list[dict], duration: float) -> list[str]:
    dropped = [c for c in cues if c["outcome"] == DROPPED]
    cut = [c for c in cues if c["outcome"] == CUT]
    warnings = []
    if dropped:
        warnings.append(
            f"Subtitle {_numbers(dropped)} start{'' if len(dropped) > 1 else 's'} after the "
            f"render ends ({duration:.2f} s) and {'were' if len(dropped) > 1 else 'was'} not "
            "shown; choose sync 'loop' or 'keep', or edit the subtitles."
        )
    if cut:
        warnings.append(
            f"Subtitle {_numbers(cut)} {'run' if len(cut) > 1 else 'runs'} past the render's "
            f"end ({duration:.2f} s) and {'were' if len(cut) > 1 else 'was'} cut there."
        )
    return warnings


def render_notes(recipe, *, srt_text: str | None, voiceover, duration: float) -> dict:
    """The result fields a render adds: `sync`, `karaoke` (true when words were lit),
    `cues_outside` and `warnings` (see the module doc). `recipe` is the render's ClipRecipe
    (None: a caller that has none reports no options)."""
    cues = cues_outside(srt_text, duration)
    warnings = cue_warnings(cues, duration)
    if recipe is None:
        return {"cues_outside": cues, "warnings": warnings}
    # Words are lit from the voice-over's word timings (its captions come from them when the
    # content has no SRT): without them there is nothing to light.
    karaoke = bool(recipe.karaoke and voiceover is not None and voiceover.words)
    if recipe.karaoke and not karaoke:
        warnings.append(
            "Karaoke was asked for, but the render has no voice-over with word timings: "
            "the captions were shown plainly."
        )
    return {
        "sync": recipe.sync.value,
        "karaoke": karaoke,
        "cues_outside": cues,
        "warnings": warnings,
    }
