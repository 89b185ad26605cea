"""A stored file's local path in a test, on any storage: in place on the filesystem, a copy
under the run's data dir from a bucket (EF_TEST_STORAGE=s3)."""

import uuid
from pathlib import Path, PurePosixPath

from django.conf import settings

from core import storage


def stored_path(name: str) -> str:
    in_place = storage.in_place_path(name)
    if in_place is not None:
        return str(in_place)
    target = Path(settings.DATA_DIR) / "stored-copies" / uuid.uuid4().hex / PurePosixPath(name).name
    target.parent.mkdir(parents=True)
    return str(storage.copy_to_local(name, target))
