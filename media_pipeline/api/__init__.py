"""The library router: /api/v1/library/... One module per area, each with its own router."""

from ninja import Router

from . import audio, clips, projects, render, segments, usage, videos

router = Router()
for module in (videos, audio, projects, clips, render, segments, usage):
    router.add_router("", module.router)
