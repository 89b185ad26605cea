"""What every paginated list shares: its answer's shape, and the bound on offsets (past
MAX_OFFSET there is no real page, and SQLite refuses offsets beyond 64 bits: a 500 otherwise)."""

from collections.abc import Callable

MAX_OFFSET = 2**31 - 1


def page_of(queryset, *, limit: int, offset: int, item: Callable | None = None) -> dict:
    """One page of an ordered queryset, as every list endpoint answers it: {total, limit,
    offset, items}, total counting the whole queryset. `item` shapes each row (default: the row,
    for a schema that reads its attributes)."""
    rows = queryset[offset : offset + limit]
    items = [item(row) for row in rows] if item else list(rows)
    return {"total": queryset.count(), "limit": limit, "offset": offset, "items": items}
