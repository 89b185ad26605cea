"""Auth-checked streaming of stored files, with HTTP Range support (seeking in players)."""

import mimetypes
import re
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.http import HttpResponse, StreamingHttpResponse

from core.errors import Invalid
from core.storage import iter_range

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _iter_file(name: str, start: int, length: int):
    # Opened on the first chunk: an answer whose body is never sent (HEAD) opens nothing. In
    # an object store, one ranged GET streamed through (core.storage).
    yield from iter_range(name, start, length, CHUNK)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end) inclusive for a single satisfiable range; None without a usable header;
    "unsatisfiable" for a range outside the file. Multi-range requests get the whole file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


def wants_download(request) -> bool:
    """`?download=true` (a media link's "save" variant): the file comes as an attachment, which
    is what makes a cross-origin <a download> save it."""
    value = request.GET.get("download")
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise Invalid.field("download", f"'download' must be true or false, not {value!r}")


def stream_stored_file(
    request,
    *,
    name: str,
    content_type: str | None = None,
    filename: str | None = None,
    inline: bool = False,
):
    """Stream any stored file (a job's, a library row's). `content_type` defaults to the one
    the name's suffix implies, `filename` to the name's last part; `inline` lets a browser play
    it in place (a video element) instead of saving it, unless the link asks for a download."""
    disposition = "inline" if inline and not wants_download(request) else "attachment"
    if content_type is None:
        content_type = mimetypes.guess_type(name)[0]
    filename = filename or PurePosixPath(name).name
    size = default_storage.size(name)
    wanted = parse_range(request.headers.get("Range"), size)
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = wanted if wanted else (0, size - 1)
    length = max(end - start + 1, 0)
    response = StreamingHttpResponse(
        _iter_file(name, start, length),
        status=206 if wanted else 200,
        content_type=content_type or "application/octet-stream",
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
