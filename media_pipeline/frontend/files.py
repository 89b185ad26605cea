"""The frontend's media URLs (contract section 3, M1-M8): `{BASE}/files/{token}` and
`{BASE}/library/files/{token}` serve the stored file a path token names, with no header (a
`<video>`, `<img>` or `window.open` cannot send one): the signed, expiring token is the
permission. One function, `serve_token`, serves both routes alike.

The token arrives percent-decoded exactly once (by the server, as every path does) and is never
decoded again; a catch-all path parameter takes a decoded token containing slashes. `download=true`
answers it as an attachment, any other request inline; `v` (the page's cache-buster) is ignored.
The MIME type follows the stored name; Range requests get 206 (players seek).
"""

from django.core.files.storage import default_storage
from ninja import Router

from core.deprecation import old_path
from core.downloads import stream_stored_file
from core.errors import NotFound
from core.media_urls import read_media_token
from core.strict import media_route
from jobs.schemas import ErrorOut
from media_pipeline.frontend.api import PREFIX

router = Router(tags=["frontend: files"])
FILE_RESPONSES = {200: None, 206: None, 404: ErrorOut, 416: None, 422: ErrorOut}
NOTE = "Media of a path token (no header: the signed token is the permission)."


def serve_token(request, token: str):
    """Stream the file `token` names (422 for an altered or expired token, 404 once the file
    is gone)."""
    name = read_media_token(token).name
    if not default_storage.exists(name):
        raise NotFound("the file no longer exists")
    return stream_stored_file(request, name=name, inline=True)  # download=true: attachment


@router.get(
    "/files/{path:token}",
    auth=None,
    response=FILE_RESPONSES,
    summary="A job's or the library's file by its path token (M1, M2)",
    **old_path("GET", PREFIX + "/files/{token:path}", "", note=NOTE),
)
@media_route
def files(request, token: str):
    return serve_token(request, token)


@router.get(
    "/library/files/{path:token}",
    auth=None,
    response=FILE_RESPONSES,
    summary="A library file by its path token (M4-M8)",
    **old_path("GET", PREFIX + "/library/files/{token:path}", "", note=NOTE),
)
@media_route
def library_files(request, token: str):
    return serve_token(request, token)
