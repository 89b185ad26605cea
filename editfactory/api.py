"""The root NinjaAPI, mounted at /api/v1 (docs at /api/v1/docs)."""

from ninja import NinjaAPI

from core import apierrors
from core.auth import API_AUTH
from core.strict import forbid_unknown_fields
from editfactory.health import router as health_router
from jobs.api import router as jobs_router
from media_pipeline.library.api import router as library_router

api = NinjaAPI(
    title="Edit Factory API",
    version="1",
    description="Jobs, library and renders of Edit Factory. Authenticate with `Authorization: Bearer <token>`.",
    auth=API_AUTH,
    urls_namespace="api",
    docs_url="/docs",
)
apierrors.install(api)
forbid_unknown_fields(api)
api.add_router("", health_router)
api.add_router("", jobs_router)
api.add_router("/library", library_router)


@api.get(
    "/ping", auth=None, tags=["health"], summary="Liveness: answers without touching the database"
)
def ping(request):
    return {"ok": True}
