"""Media storage the same way on the filesystem and in an object store (core.objectstore):
reading a range, copying to a local file, listing a folder, discarding a name. Each asks the
storage for its own way when it has one (an object store: ranged GETs, one listing, multipart
aborts) and otherwise uses Django's storage API. Never a whole file in memory."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.core.files.storage import default_storage

CHUNK = 256 * 1024


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    modified: datetime


def in_place_path(name: str) -> Path | None:
    """The local path of a stored file when the storage has one (the filesystem), else None."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        return None


def copy_to_local(name: str, target: Path) -> Path:
    """Copy the stored file `name` to the local file `target`, in parts."""
    download = getattr(default_storage, "download_to", None)
    if download is not None:
        download(name, target)
    else:
        with default_storage.open(name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    return target


def iter_range(name: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """`length` bytes of the stored file `name` from `start`, in chunks of at most `chunk`."""
    ranged = getattr(default_storage, "iter_range", None)
    if ranged is not None:
        yield from ranged(name, start, length, chunk)
        return
    with default_storage.open(name, "rb") as fh:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            data = fh.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data


def stored_files(folder: str) -> Iterator[StoredFile]:
    """Every file under `folder` (none when it does not exist), with size and modified time."""
    walk = getattr(default_storage, "walk", None)
    if walk is not None:
        yield from walk(folder)
        return
    try:
        dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for filename in files:
        name = f"{folder}/{filename}"
        try:
            yield StoredFile(
                name, default_storage.size(name), default_storage.get_modified_time(name)
            )
        except FileNotFoundError:
            continue  # deleted meanwhile
    for sub in dirs:
        yield from stored_files(f"{folder}/{sub}")


def discard(name: str) -> bool:
    """Delete the stored file `name` and any unfinished upload to it (a write cut short);
    True when a file was there."""
    end_uploads(name)
    if default_storage.exists(name):
        default_storage.delete(name)
        return True
    return False


def unfinished_uploads(folder: str, *, started_before: datetime | None = None) -> list[str]:
    """Names of the unfinished uploads under `folder` (an object store's; a filesystem has
    none: a write cut short there is a file, found by `stored_files`)."""
    listing = getattr(default_storage, "unfinished_uploads", None)
    if listing is None:
        return []
    found = listing(folder.rstrip("/") + "/", started_before=started_before)
    return sorted({name for name, _upload_id in found})


def discard_unfinished(folder: str, *, started_before: datetime | None = None) -> int:
    """End the unfinished uploads under `folder` (see `unfinished_uploads`)."""
    abort = getattr(default_storage, "abort_uploads", None)
    return abort(folder.rstrip("/") + "/", started_before=started_before) if abort else 0


def end_uploads(name: str) -> int:
    """End the unfinished uploads to exactly `name`."""
    abort = getattr(default_storage, "abort_uploads", None)
    return abort(name, exact=True) if abort else 0


def storage_problem() -> str | None:
    """What keeps the media storage from working, in words (an object store that cannot be
    reached, a bucket missing or refused); None when it works. A filesystem is not asked: its
    folder is made at startup."""
    probe = getattr(default_storage, "probe", None)
    if probe is None:
        return None
    try:
        probe()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
