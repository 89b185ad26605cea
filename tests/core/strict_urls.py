"""The product's URLs plus /api/strict/, a NinjaAPI with every kind of parameter ninja has, made
strict BEFORE its routes exist (as the frontend API is, its routes being added later)."""

from django.urls import path
from ninja import Body, File, Form, NinjaAPI, Query, Router, Schema
from ninja.files import UploadedFile

from core import apierrors
from core.auth import API_AUTH
from core.downloads import wants_download
from core.strict import InputSchema, forbid_unknown_fields, media_route
from editfactory.urls import urlpatterns as product_urlpatterns

strict_api = NinjaAPI(urls_namespace="strict_test", docs_url=None)
apierrors.install(strict_api)
forbid_unknown_fields(strict_api)  # first, as where the real APIs are assembled


class Filters(Schema):
    status: str | None = None
    limit: int = 10


class Inner(InputSchema):
    a: int


class ItemIn(InputSchema):
    name: str
    tags: list[str] = []
    inner: Inner | None = None


router = Router()


@router.get("/items")
def list_items(request, filters: Query[Filters], q: str | None = None):
    return {"status": filters.status, "limit": filters.limit, "q": q}


@router.post("/items")
def create_item(request, payload: ItemIn):
    return payload.dict()


@router.post("/upload")
def upload(
    request,
    file: File[UploadedFile],
    extra: File[list[UploadedFile]] = None,
    name: Form[str] = None,
    tags: Form[list[str]] = None,
):
    return {"file": file.name, "extra": len(extra or []), "name": name, "tags": tags or []}


@router.post("/upload-with-json")
def upload_with_json(request, meta: ItemIn, file: File[UploadedFile]):
    return {"name": meta.name, "file": file.name}


@router.post("/two-bodies")
def two_bodies(request, first: Inner, second: Inner):
    return {"sum": first.a + second.a}


@router.post("/nothing")
def nothing(request):
    return {"ok": True}


@router.post("/anything")
def anything(request, payload: Body[dict]):
    return payload


@router.get("/private", auth=API_AUTH)
def private(request, limit: int = 10):
    return {"user": request.auth.username, "limit": limit}


@router.get("/media/{name}")
@media_route
def media(request, name: str):
    return {"name": name, "download": wants_download(request)}


strict_api.add_router("/r", router)


@strict_api.get("/late")
def late(request, x: int = 0):
    return {"x": x}


urlpatterns = [*product_urlpatterns, path("api/strict/", strict_api.urls)]
