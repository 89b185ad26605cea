from django.contrib import admin
from django.urls import include, path

from editfactory.api import api
from jobs.admin_views import dashboard_view, live_progress
from jobs.metrics import metrics_view
from media_pipeline.frontend.api import frontend_api

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="ef_dashboard"),
    path(
        "admin/jobs/live-progress/", admin.site.admin_view(live_progress), name="ef_live_progress"
    ),
    path("admin/", admin.site.urls),
    # Prometheus' text format, for staff (a staff API token, EF_METRICS_TOKEN or a staff session).
    path("metrics", metrics_view, name="ef_metrics"),
    path("api/v1/", api.urls),
    # The web frontend's contract (deprecated compatibility layer over the same services).
    path("api/frontend/v1/", frontend_api.urls),
]
