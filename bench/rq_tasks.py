"""The raw-RQ baseline of the engine benchmark: a no-op that bypasses the engine entirely."""


def raw_noop() -> None:
    return None
