"""Bounds shared by every paginated list: past MAX_OFFSET there is no real page, and SQLite
refuses offsets beyond 64 bits (a 500 otherwise)."""

MAX_OFFSET = 2**31 - 1
