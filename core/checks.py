"""Django system check (`manage.py check`, and every command that runs the checks: `up`, the
workers): can the media storage be reached? Only an object store is asked (one HEAD of the
bucket); a filesystem storage's folder is made at startup."""

from django.core import checks

from core.storage import storage_problem


def storage_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = storage_problem()
    if problem is not None:
        return [
            checks.Error(
                f"media storage (EF_STORAGE=s3): {problem}",
                hint="Check EF_S3_ENDPOINT_URL, EF_S3_BUCKET (the bucket must exist), "
                "EF_S3_REGION and the credentials; see docs/storage.md.",
                id="core.E001",
            )
        ]
    return []
