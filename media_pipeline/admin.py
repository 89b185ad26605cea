"""Django's admin autodiscovery imports `<app>.admin`: the library's admin lives in
`media_pipeline.library.admin`."""

import media_pipeline.library.admin  # noqa: F401
