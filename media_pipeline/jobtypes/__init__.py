"""Job types of the media pipeline. Every module in this package registers its types with the
job engine when imported; `MediaPipelineConfig.ready()` imports them all."""

import importlib
import pkgutil


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
