"""Middleware of the project."""


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
