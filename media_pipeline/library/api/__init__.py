"""The library router: /api/v1/library/... One module per area, each with its own router."""

from ninja import Router

from media_pipeline.library.api import audio, clips, projects, render, segments, usage, videos

router = Router()
# render before clips: its literal "/clips/bulk-render" must be tried before "/clips/{clip_id}".
for module in (videos, audio, projects, render, clips, segments, usage):
    router.add_router("", module.router)
