"""Django loads an app's models from `<app>.models`: the library's models live in
`media_pipeline.library.models`."""

from media_pipeline.library.models import *  # noqa: F403
