"""Per-user limits on starting jobs. (Placeholder: implemented with the rate-limit work.)"""


def check_job_rate_limit(user) -> None:
    """Raise ApiError(429, Retry-After) when the user starts jobs faster than allowed."""
