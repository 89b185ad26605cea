"""Postiz publishing (contract 4.2, 4.3, 5.13): not provided by this backend. Each call answers
501 with a `detail` the page shows in its alert, so nothing pretends to have been published
(clips keep `postiz_status: "not_sent"`)."""

from ninja import Body, Router

from core.deprecation import old_path
from jobs.schemas import ErrorOut
from media_pipeline.frontend.api import PREFIX
from media_pipeline.frontend.common import NotSupported

router = Router(tags=["frontend: postiz"])
MESSAGE = (
    "Postiz publishing is not provided by this backend: download the rendered clip and "
    "publish it from Postiz or the platform itself."
)
NOTE = "Not provided: answers 501."


def _not_supported():
    raise NotSupported(MESSAGE)


@router.get(
    "/postiz/integrations",
    response={501: ErrorOut, 401: ErrorOut},
    summary="Postiz integrations (not provided: 501)",
    **old_path("GET", PREFIX + "/postiz/integrations", "", note=NOTE),
)
def integrations(request):
    _not_supported()


@router.post(
    "/postiz/publish",
    response={501: ErrorOut, 401: ErrorOut},
    summary="Publish a clip through Postiz (not provided: 501)",
    **old_path("POST", PREFIX + "/postiz/publish", "", note=NOTE),
)
def publish(request, payload: Body[dict] = None):  # any body: not provided anyway
    _not_supported()


@router.post(
    "/postiz/bulk-publish",
    response={501: ErrorOut, 401: ErrorOut},
    summary="Publish several clips through Postiz (not provided: 501)",
    **old_path("POST", PREFIX + "/postiz/bulk-publish", "", note=NOTE),
)
def bulk_publish(request, payload: Body[dict] = None):  # any body: not provided anyway
    _not_supported()


@router.post(
    "/postiz/upload",
    response={501: ErrorOut, 401: ErrorOut},
    summary="Upload a clip to Postiz (not provided: 501)",
    **old_path("POST", PREFIX + "/postiz/upload", "", note=NOTE),
)
def upload(request, payload: Body[dict] = None):  # any body: not provided anyway
    _not_supported()
