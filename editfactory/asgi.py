import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editfactory.settings")
django_application = get_asgi_application()

from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402

from editfactory.bodyguard import BodyGuard  # noqa: E402 - needs the app registry ready
from editfactory.fastpoll import JobPollingFastPath  # noqa: E402 - needs the app registry ready


def close_request_thread_connections(**kwargs) -> None:
    """Django runs each ASGI request's sync code in a thread of its own that ends with the
    request, so a connection kept open there (CONN_MAX_AGE) is never reused: it lingers idle
    until garbage collection, and under concurrent load PostgreSQL runs out of connections
    ("too many clients"). Close it when the request ends. The ORM pool threads of
    core.asyncdb are long-lived and keep theirs."""
    connections.close_all()


request_finished.connect(close_request_thread_connections, sender=ASGIHandler)

# A request body is read only from those allowed to send it, and only up to its route's cap:
# see editfactory.bodyguard. (The fast path below answers only bodiless polls itself.)
django_application = BodyGuard(django_application)

# The job polling endpoint is answered before Django's handler: see editfactory.fastpoll.
application = JobPollingFastPath(django_application)

# Everything loaded so far (Django, the URL conf, models) lives as long as the process. Freezing
# it keeps the garbage collector's full passes from scanning it again and again: measured on the
# job endpoint, full-collection pauses went from ~49 ms to ~6 ms (one every ~750 requests).
gc.freeze()
