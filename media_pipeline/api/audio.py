"""Library API: audio."""

from ninja import Router

router = Router(tags=["audio"])
