"""The root NinjaAPI, mounted at /api/v1 (docs at /api/v1/docs)."""

from ninja import NinjaAPI

from core import apierrors
from core.auth import API_AUTH
from core.strict import forbid_unknown_fields
from editfactory import legacy
from editfactory.health import router as health_router
from jobs.api import router as jobs_router
from media_pipeline.library.api import router as library_router


class EditFactoryAPI(NinjaAPI):
    """Its OpenAPI document also lists the prototype's aliases (editfactory.legacy), which the
    DeprecationMiddleware routes before ninja sees them: deprecated, their successor named."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        schema = super().get_openapi_schema(path_prefix=path_prefix)
        legacy.document_aliases(schema, path_prefix)
        return schema


api = EditFactoryAPI(
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
