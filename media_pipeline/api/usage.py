"""Library API: usage."""

from ninja import Router

router = Router(tags=["usage"])
