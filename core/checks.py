"""Django system check (`manage.py check`, and every command that runs the checks: `up`, the
workers): can the media storage be reached? Only an object store is asked (one HEAD of the
bucket); a filesystem storage's folder is made at startup."""

from django.core import checks
from django.core.files.storage import default_storage


def storage_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    probe = getattr(default_storage, "probe", None)
    if probe is None:
        return []
    try:
        probe()
    except OSError as exc:
        return [
            checks.Error(
                f"media storage (EF_STORAGE=s3): {exc.strerror or exc}",
                hint="Check EF_S3_ENDPOINT_URL, EF_S3_BUCKET (the bucket must exist), "
                "EF_S3_REGION and the credentials; see docs/storage.md.",
                id="core.E001",
            )
        ]
    return []
