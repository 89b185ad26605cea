"""The prototype's paths, kept as deprecated aliases so an old frontend can move gradually.

Each alias is answered by its successor (the request is routed there unchanged) and the response
says so: `Deprecation: true` and `Link: <successor>; rel="successor-version"`.
"""

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


def successor_of(method: str, path: str) -> str | None:
    return _BY_PATH.get((method, path.rstrip("/") or path))


class LegacyAliasMiddleware:
    """Routes a legacy request to its successor before URL resolution (placed before Django's
    CommonMiddleware so trailing-slash handling sees the new path)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        successor = successor_of(request.method, request.path_info)
        if successor is None:
            return self.get_response(request)
        request.path_info = request.path = successor
        response = self.get_response(request)
        response["Deprecation"] = "true"
        response["Link"] = f'<{successor}>; rel="successor-version"'
        return response
