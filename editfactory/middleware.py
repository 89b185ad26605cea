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
