"""Middleware of the project."""

from django.http import JsonResponse

from core.apierrors import code_for, error_body


class OneHopMiddleware:
    """Innermost, and sync-only on purpose.

    Under ASGI, Django runs each `MiddlewareMixin` middleware's hooks through their own thread
    hops (about 0.35 ms of CPU per middleware here). Django adapts each middleware to the mode of
    the one inside it, so a sync-only middleware at the bottom puts the whole chain in sync mode:
    one hop into a thread for all of it.
    Async views (the SSE stream, job polling) are still served; the ASGI server is still
    what streams their responses.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


class ApiHeadMiddleware:
    """HEAD of an API path is answered as its GET without the body (RFC 9110: a GET resource
    answers HEAD). ninja routes an operation by its declared methods only, and declaring HEAD
    on each would add it to the OpenAPI documents. Players and download managers ask HEAD of a
    media link for its size and type. A streamed file is not read: core.downloads opens it on
    the first chunk."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "HEAD" or not request.path_info.startswith("/api/"):
            return self.get_response(request)
        request.method = "GET"
        try:
            response = self.get_response(request)
        finally:
            request.method = "HEAD"
        if response.streaming:
            response.streaming_content = []
        else:
            if not response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response


class ApiJsonErrorsMiddleware:
    """Every answer under /api/ is JSON, errors included: a 404 from URL resolution (a
    trailing slash, an unknown path; under DEBUG Django's page listing every URL pattern), a
    405 for a method a route does not take, Django's own 400 and 500 pages. They get the API's
    error shape (core.apierrors.error_body); JSON answers pass unchanged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith("/api/")
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        message = _error_message(request, response)
        replaced = JsonResponse(
            error_body(code_for(response.status_code), message), status=response.status_code
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if response.has_header(header):
                replaced[header] = response[header]
        return replaced


def _error_message(request, response) -> str:
    status = response.status_code
    if status == 404:
        hint = " (API paths have no trailing slash)" if request.path_info.endswith("/") else ""
        return f"No API endpoint at {request.path_info}{hint}."
    if status == 405:
        allowed = response.get("Allow", "")
        return f"{request.method} is not allowed here" + (
            f" (allowed: {allowed})." if allowed else "."
        )
    return f"{response.reason_phrase or 'Error'}."
