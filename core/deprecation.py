"""Old paths kept for old clients, made visible so operators know when those clients are gone.

Every old path is registered here with its successor (`old_path`). It is marked deprecated in
its OpenAPI document with the successor named, answers with `Deprecation: true` and
`Link: <successor>; rel="successor-version"` (`editfactory.deprecation` sets them), and each use
is counted per day in Redis and logged once per client, path and day (`note_use`), for the admin
dashboard (`usage_by_path`). Counting lives in Redis, not in a table: no read request writes a row.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from redis.exceptions import RedisError

from core.redisconn import shared_redis

logger = logging.getLogger(__name__)

_COUNTS = "ef:deprecated:{day}"  # hash: "METHOD path" -> uses that day
_SEEN = "ef:deprecated:seen:{day}:{client}:{key}"  # one log line per client, path and day
_KEEP_DAYS = 40


@dataclass(frozen=True)
class OldPath:
    method: str
    path: str  # the full path template, {name} for a parameter, {name:path} for a catch-all
    successor_method: str
    successor_path: str  # the full path template of the successor
    pattern: re.Pattern = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def successor(self) -> str:
        return f"{self.successor_method} {self.successor_path}"

    def successor_url(self, path: str) -> str:
        """The successor's path for this request's `path`, its parameters filled in. An id
        parameter that is signed (`<id>.<expiry>.<signature>`, core.media_urls) becomes its plain
        id: the successor takes ids with the caller's token instead."""
        values = self.pattern.fullmatch(path).groupdict()

        def value(m: re.Match) -> str:
            found = values.get(m.group(1))
            if found is None:
                return m.group(0)
            return found if m.group(2) else found.split(".", 1)[0]

        return re.sub(r"\{(\w+)(:path)?\}", value, self.successor_path)


_REGISTRY: list[OldPath] = []


def _pattern(template: str) -> re.Pattern:
    """`/a/{id}/{rest:path}` -> a regex with a named group per parameter."""

    def group(part: str) -> str:
        name, _, kind = part[1:-1].partition(":")
        return f"(?P<{name}>{'.+' if kind == 'path' else '[^/]+'})"

    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(group(part) if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(regex + "/?")


def old_path(method: str, path: str, successor: str, *, note: str = "") -> dict:
    """Register the old `METHOD path` (a full path template) and its successor ("METHOD path",
    or "" when it has none); returns the ninja operation options that mark it deprecated."""
    successor_method, _, successor_path = successor.partition(" ")
    old = OldPath(method, path, successor_method, successor_path, _pattern(path))
    if old not in _REGISTRY:
        _REGISTRY.append(old)
    text = f"Deprecated. Successor: `{successor}`." if successor else "Deprecated, no successor."
    return {"deprecated": True, "description": f"{text} {note}".strip()}


def registered() -> list[OldPath]:
    return list(_REGISTRY)


def match(method: str, path: str) -> OldPath | None:
    """The registered old path this request is for (HEAD counts as GET)."""
    method = "GET" if method == "HEAD" else method
    for old in _REGISTRY:
        if old.method == method and old.pattern.fullmatch(path):
            return old
    return None


def note_use(old: OldPath, *, client: str) -> None:
    """Count one use of `old` today and log the first one of this client today. A Redis outage
    costs the count, never the request."""
    day = timezone.now().date().isoformat()
    try:
        connection = shared_redis()
        counts = _COUNTS.format(day=day)
        pipe = connection.pipeline()
        pipe.hincrby(counts, old.key, 1)
        pipe.expire(counts, timedelta(days=_KEEP_DAYS))
        pipe.set(_SEEN.format(day=day, client=client, key=old.key), 1, nx=True, ex=2 * 86400)
        first_today = pipe.execute()[2]
    except RedisError as exc:
        logger.warning("use of deprecated %s not counted: %s", old.key, exc)
        return
    if first_today:
        logger.warning(
            "deprecated %s used by %s (successor: %s)", old.key, client, old.successor or "none"
        )


@dataclass(frozen=True)
class PathUsage:
    old: OldPath
    per_day: dict[str, int]  # ISO day -> uses, newest first

    @property
    def total(self) -> int:
        return sum(self.per_day.values())

    @property
    def last_used(self) -> str | None:
        return next((day for day, n in self.per_day.items() if n), None)


def usage_by_path(*, days: int = 7) -> list[PathUsage]:
    """Uses of every registered old path over the last `days` days, most used first."""
    today = timezone.now().date()
    day_names = [(today - timedelta(days=n)).isoformat() for n in range(days)]
    connection = shared_redis()
    pipe = connection.pipeline()
    for day in day_names:
        pipe.hgetall(_COUNTS.format(day=day))
    per_day = dict(zip(day_names, pipe.execute(), strict=True))
    usage = [
        PathUsage(
            old,
            {day: int(counts.get(old.key.encode(), 0)) for day, counts in per_day.items()},
        )
        for old in _REGISTRY
    ]
    return sorted(usage, key=lambda u: (-u.total, u.old.key))
