"""The product's URLs plus POST /api/chaos/jobs, which starts a job of any registered type
(the test types included) through `start_job`, the path every product endpoint that creates a
job goes through (auth, rate limit, job_create, enqueue after commit, the JSON error shape)."""

from typing import Any

from django.urls import path
from ninja import NinjaAPI, Schema

from core import apierrors
from core.auth import API_AUTH
from editfactory.urls import urlpatterns as product_urlpatterns
from media_pipeline.library.api.common import START_RESPONSES, start_job

chaos_api = NinjaAPI(urls_namespace="chaos_api", auth=API_AUTH, docs_url=None)
apierrors.install(chaos_api)


class JobIn(Schema):
    job_type: str
    params: dict[str, Any] = {}


@chaos_api.post("/jobs", response=START_RESPONSES)
def create_job(request, body: JobIn):
    return start_job(request, body.job_type, params=body.params)


urlpatterns = [*product_urlpatterns, path("api/chaos/", chaos_api.urls)]
