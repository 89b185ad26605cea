"""Naming stored files: the server names them; only a sane suffix is ever taken from a client."""

from pathlib import PurePosixPath

MAX_SUFFIX = 6  # ".jpeg" and ".webm" fit; anything longer is not a media suffix


def safe_suffix(filename: str | None, *, default: str = ".bin") -> str:
    """The lower-cased suffix of `filename` when it is short and alphanumeric, else `default`:
    a client's file name never decides a path, at most the extension that follows our name."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > MAX_SUFFIX:
        return default
    return suffix
