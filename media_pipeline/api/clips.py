"""Library API: clips."""

from ninja import Router

router = Router(tags=["clips"])
