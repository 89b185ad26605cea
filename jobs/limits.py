"""Per-user rate limit on starting jobs (settings.RATE_LIMIT_JOBS, e.g. "30/minute").

A sliding window in Redis: one sorted set per user holding the creation times of the window.
The check and the insert are one Lua script, so concurrent requests (any number of web
processes) can never both take the last slot. The clock is Redis's own (`TIME`), so web hosts
with skewed clocks agree. Staff are limited too. A Redis outage raises RedisError (HTTP 503):
without Redis no job could be enqueued anyway.
"""

import math
import re
import secrets
import time

from django.conf import settings

from core.errors import RateLimited
from jobs import queue

_UNITS = {
    "s": 1,
    "second": 1,
    "m": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RULE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")

# KEYS[1]: the user's set. ARGV: limit, window (ms), a unique member.
# Returns 0 when the creation is allowed (and recorded), else milliseconds until a slot frees.
_SLIDING_WINDOW = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


def parse_rate(rule: str) -> tuple[int, int] | None:
    """ "30/minute" -> (30, 60); "100/5m" -> (100, 300); "", "0" or "0/minute" -> None (off)."""
    rule = (rule or "").strip().lower()
    if rule in ("", "0"):
        return None
    match = _RULE.match(rule)
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"invalid rate limit {rule!r}: expected e.g. '30/minute'")
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    return (count, multiple * _UNITS[unit]) if count > 0 else None


def check_job_rate_limit(user) -> None:
    """Count one job creation for `user`; raise RateLimited (HTTP 429, Retry-After) past the limit."""
    rate = parse_rate(settings.RATE_LIMIT_JOBS)
    if rate is None or user is None:
        return
    limit, window = rate
    connection = queue.get_connection()
    member = f"{time.time_ns()}-{secrets.token_hex(4)}"
    wait_ms = connection.eval(
        _SLIDING_WINDOW, 1, f"ef:ratelimit:jobs:{user.pk}", limit, window * 1000, member
    )
    if wait_ms:
        seconds = max(1, math.ceil(int(wait_ms) / 1000))
        raise RateLimited(
            f"Too many jobs started: the limit is {limit} per {_window_text(window)}. "
            f"Try again in {seconds} s.",
            [{"limit": limit, "window_seconds": window, "retry_after": seconds}],
            headers={"Retry-After": str(seconds)},
        )


def _window_text(seconds: int) -> str:
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return name if count == 1 else f"{count} {name}s"
    return f"{seconds} seconds"
