"""Old paths: the prototype's aliases under /api/v1, and the web frontend's API (its routes are
registered where they are defined, in media_pipeline.frontend).

An alias is answered by its successor (the request is routed there unchanged). Every old path's
answer says it is deprecated (`Deprecation: true`, `Link: <successor>; rel="successor-version"`)
and its use is counted and logged (core.deprecation).
"""

import copy

from django.urls import get_resolver

from core import deprecation

API = "/api/v1"

# (method, legacy path) -> successor path
ALIASES: dict[tuple[str, str], str] = {
    ("POST", "/video-info"): "/library/videos/info",
    ("POST", "/detect-voice"): "/library/videos/detect-voice",
    ("POST", "/mute-voice"): "/library/videos/mute-voice",
    ("POST", "/analyze"): "/library/videos/analyze",
    ("POST", "/jobs"): "/library/videos/process",
    ("POST", "/jobs/multi-video"): "/library/videos/multi",
    ("POST", "/tts/generate"): "/library/audio/tts",
    ("POST", "/tts/add-to-videos"): "/library/audio/add-to-videos",
    ("GET", "/costs"): "/library/usage/costs",
    ("GET", "/usage"): "/library/usage",
}
_BY_PATH = {(method, API + legacy): API + new for (method, legacy), new in ALIASES.items()}
# (method, legacy path) -> its OpenAPI marks ({"deprecated": True, "description": ...})
_MARKS = {
    (method, legacy): deprecation.old_path(
        method, API + legacy, f"{method} {API}{new}", note="An alias: answered by its successor."
    )
    for (method, legacy), new in ALIASES.items()
}


def document_aliases(schema: dict, prefix: str) -> None:
    """Add each alias to the OpenAPI document `schema` of the API mounted at `prefix`: its
    successor's operation (parameters, request body, responses: it is answered by it), marked
    deprecated, with the successor named in its description and in `x-successor`."""
    paths = schema["paths"]
    base = prefix.rstrip("/")
    for (method, legacy), new in ALIASES.items():
        successor = paths.get(base + new, {}).get(method.lower())
        if successor is None:  # tests/test_frontend_support.py checks every successor is routed
            continue
        operation = copy.deepcopy(successor)
        marks = _MARKS[(method, legacy)]
        operation["deprecated"] = True
        operation["description"] = "\n\n".join(
            part for part in (marks["description"], successor.get("description")) if part
        )
        operation["operationId"] = f"deprecated_alias_{successor['operationId']}"
        operation["summary"] = f"Deprecated alias of {method} {base}{new}"
        operation["x-successor"] = f"{method} {base}{new}"
        paths.setdefault(base + legacy, {})[method.lower()] = operation


def successor_of(method: str, path: str) -> str | None:
    return _BY_PATH.get((method, path.rstrip("/") or path))


def _client(request) -> str:
    """Who used an old path: the authenticated user, else the address."""
    user = getattr(request, "auth", None) or getattr(request, "user", None)
    if getattr(user, "is_authenticated", False):
        return f"user {user.pk}"
    return f"address {request.META.get('REMOTE_ADDR', '?')}"


class DeprecationMiddleware:
    """Routes an alias to its successor before URL resolution (placed before Django's
    CommonMiddleware, so trailing-slash handling sees the new path); marks the answer of every
    old path as deprecated and counts the use."""

    def __init__(self, get_response):
        self.get_response = get_response
        # The old paths register themselves when their modules load with the URLconf: load it
        # now, or a process's first request (before any URL was resolved) would not be seen.
        get_resolver().url_patterns  # noqa: B018 - loading is the point

    def __call__(self, request):
        path = request.path_info
        old = deprecation.match(request.method, path)
        if old is None:
            return self.get_response(request)
        successor = successor_of(request.method, path)
        if successor is not None:
            request.path_info = request.path = successor
        response = self.get_response(request)
        response["Deprecation"] = "true"
        if old.successor_path:
            response["Link"] = f'<{old.successor_url(path)}>; rel="successor-version"'
        deprecation.note_use(old, client=_client(request))
        return response
