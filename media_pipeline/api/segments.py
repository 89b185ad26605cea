"""Library API: segments."""

from ninja import Router

router = Router(tags=["segments"])
