"""One kept Redis client for the small bookkeeping done on requests (old-path counts, token last
use). django_rq makes a new client (a new TCP connection) on each call; this one is made once per
queue configuration, with short timeouts: a hanging Redis costs the note, not the request."""

import django_rq
import redis
from django.conf import settings

_CLIENTS: dict = {}


def shared_redis():
    config = settings.RQ_QUEUES[settings.RQ_QUEUE]
    key = repr(sorted(config.items()))
    client = _CLIENTS.get(key)
    if client is None:
        if "URL" in config:
            client = redis.Redis.from_url(
                config["URL"], socket_timeout=1.0, socket_connect_timeout=1.0
            )
        else:
            client = django_rq.get_connection(settings.RQ_QUEUE)
        _CLIENTS[key] = client
    return client
