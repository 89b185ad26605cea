"""Library API: render."""

from ninja import Router

router = Router(tags=["render"])
