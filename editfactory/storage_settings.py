"""Where media lives, from the environment: the local filesystem (the default) or an S3-compatible
object store (EF_STORAGE=s3). See docs/storage.md.

Read once by settings.py. A wrong or missing S3 setting is an ImproperlyConfigured naming it, so
every process (web, worker, `manage.py` command) refuses to start rather than failing at its
first file.
"""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

LOCAL_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "core.objectstore.ObjectStorage"
KINDS = ("local", "s3")
# S3's bucket naming rules (3-63 characters: lower-case letters, digits, dots and hyphens,
# starting and ending with a letter or digit).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ADDRESSING = ("auto", "path", "virtual")


def storage_kind(env) -> str:
    kind = env.str("EF_STORAGE", default="local").strip().lower() or "local"
    if kind not in KINDS:
        raise ImproperlyConfigured(
            f"EF_STORAGE={kind!r} is not a storage kind: use 'local' (the default, files under "
            "EF_MEDIA_DIR) or 's3' (an S3-compatible object store, see docs/storage.md)"
        )
    return kind


def default_storage_from_env(env) -> dict:
    """STORAGES["default"] for the EF_STORAGE kind."""
    if storage_kind(env) == "local":
        return {"BACKEND": LOCAL_BACKEND}
    return {"BACKEND": S3_BACKEND, "OPTIONS": s3_options(env)}


def _first(env, *names: str) -> tuple[str, str]:
    """(name, value) of the first of `names` set to a non-empty value; ("", "") when none is."""
    for name in names:
        value = env.str(name, default="").strip()
        if value:
            return name, value
    return "", ""


def _credentials(env) -> dict:
    """EF_S3_ACCESS_KEY_ID/EF_S3_SECRET_ACCESS_KEY, else the standard AWS_* pair; neither lets
    boto3 find them itself (an instance role, ~/.aws). Half a pair is an error."""
    key_name, key = _first(env, "EF_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
    secret_name, secret = _first(env, "EF_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")
    if bool(key) != bool(secret):
        have, missing = (key_name, "the secret key") if key else (secret_name, "the key id")
        raise ImproperlyConfigured(
            f"EF_STORAGE=s3: {have} is set but {missing} of the pair is not (EF_S3_ACCESS_KEY_ID "
            "and EF_S3_SECRET_ACCESS_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); give "
            "both, or neither to let boto3 find credentials itself"
        )
    return {"access_key": key, "secret_key": secret} if key else {}


def _endpoint(env) -> str | None:
    endpoint = env.str("EF_S3_ENDPOINT_URL", default="").strip()
    if not endpoint:
        return None  # AWS S3 itself
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            f"EF_S3_ENDPOINT_URL={endpoint!r} is not an http(s) URL of an S3-compatible server "
            "(for example http://127.0.0.1:9000)"
        )
    return endpoint


def s3_options(env) -> dict:
    """The OPTIONS of core.objectstore.ObjectStorage (django-storages' S3Storage settings)."""
    bucket = env.str("EF_S3_BUCKET", default="").strip()
    if not bucket:
        raise ImproperlyConfigured("EF_STORAGE=s3 needs EF_S3_BUCKET, the bucket media goes to")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ImproperlyConfigured(
            f"EF_S3_BUCKET={bucket!r} is not a valid bucket name (3-63 characters: lower-case "
            "letters, digits, dots and hyphens, starting and ending with a letter or digit)"
        )
    endpoint = _endpoint(env)
    addressing = env.str("EF_S3_ADDRESSING_STYLE", default="").strip().lower()
    addressing = addressing or ("path" if endpoint else "auto")
    if addressing not in _ADDRESSING:
        raise ImproperlyConfigured(
            f"EF_S3_ADDRESSING_STYLE={addressing!r} must be one of {', '.join(_ADDRESSING)}"
        )
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": env.str("EF_S3_REGION", default="").strip() or "us-east-1",
        "location": env.str("EF_S3_PREFIX", default="").strip().strip("/"),
        "addressing_style": addressing,
        # A name already taken gets a free variant, as on the filesystem: a late write of a lost
        # attempt never replaces another attempt's object.
        "file_overwrite": False,
        "default_acl": None,  # the bucket's own policy: media is private, served by the app
        "querystring_auth": True,
        **_credentials(env),
    }
