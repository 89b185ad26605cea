"""The frontend API's NinjaAPI, mounted at /api/frontend/v1 (docs at /api/frontend/v1/docs)."""

from ninja import NinjaAPI

from core import apierrors
from core.auth import API_AUTH
from core.strict import forbid_unknown_fields

PREFIX = "/api/frontend/v1"

frontend_api = NinjaAPI(
    title="Edit Factory web frontend API (deprecated compatibility layer)",
    version="2026-01-05",
    description=(
        "The API the Edit Factory web frontend (Next.js, version of 2026-01-05) calls, served "
        "exactly as it expects. Every route is deprecated: new clients use /api/v1. "
        "Authenticate with `Authorization: Bearer <API token or Supabase access token>`; media "
        "links in the answers are signed and need no header."
    ),
    auth=API_AUTH,
    urls_namespace="frontend",
    docs_url="/docs",
)
apierrors.install(frontend_api)
forbid_unknown_fields(frontend_api)  # every route, those added later too (core.strict)

# The pages' routers (they read PREFIX above, hence imported here).
from media_pipeline.frontend import (  # noqa: E402
    clips_page,
    files,
    info_page,
    main_page,
    postiz,
    projects_page,
    segments_page,
    usage_page,
)

for _page in (
    files,
    main_page,
    projects_page,
    clips_page,
    segments_page,
    postiz,
    info_page,
    usage_page,
):
    frontend_api.add_router("", _page.router)
