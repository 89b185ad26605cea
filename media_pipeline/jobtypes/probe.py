"""The `probe` job type: media information of an uploaded file.

Handlers are thin: resolve inputs through the context, call pure media functions, return a
JSON-able result.
"""

import pydantic

from jobs.registry import register
from media_pipeline.ops.probe import probe_media


class ProbeParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


@register("probe", params_schema=ProbeParams, max_attempts=2, timeout=120, label="Media info")
def probe_handler(ctx, params: ProbeParams) -> dict:
    ctx.progress(5, "probe", "Reading media information")
    info = probe_media(ctx.input_path("source"))
    ctx.progress(100, "probe", "Media information read")
    return info.as_dict()
