"""Library API: projects."""

from ninja import Router

router = Router(tags=["projects"])
