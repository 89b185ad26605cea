"""The S3 tests' fixtures: moto's S3 server on 127.0.0.1 (tests/s3server.py), one for the run,
and a fresh bucket per test with the settings and the environment pointed at it, so in-process
code, forked work horses and the worker or server processes a test starts all use it."""

import os
import uuid
from dataclasses import dataclass

import environ
import pytest
from django.conf import settings as django_settings

from editfactory.storage_settings import default_storage_from_env
from tests.s3server import MotoServer, bucket_env, s3_client


@pytest.fixture(scope="session")
def s3_endpoint():
    """The run's server: the one EF_TEST_STORAGE=s3 started, or one started here."""
    if os.environ.get("EF_S3_ENDPOINT_URL"):
        yield os.environ["EF_S3_ENDPOINT_URL"]
        return
    server = MotoServer(django_settings.DATA_DIR)
    yield server.endpoint
    server.stop()


@dataclass
class Bucket:
    endpoint: str
    name: str

    def __post_init__(self):
        self.client = s3_client(self.endpoint)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def unfinished(self) -> list[str]:
        """Keys of the multipart uploads begun and neither completed nor aborted."""
        answer = self.client.list_multipart_uploads(Bucket=self.name)
        return sorted(upload["Key"] for upload in answer.get("Uploads", ()))

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def empty(self) -> None:
        for key in self.keys():
            self.client.delete_object(Bucket=self.name, Key=key)
        for upload in self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", ()):
            self.client.abort_multipart_upload(
                Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
            )


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch, tmp_path) -> Bucket:
    """Media in a new bucket for this test (EF_STORAGE=s3 in the settings and environment).
    MEDIA_ROOT is an empty folder of its own: `local_media_files()` shows any file that went
    to the disk instead."""
    bucket = Bucket(s3_endpoint, f"t-{uuid.uuid4().hex[:16]}")
    bucket.client.create_bucket(Bucket=bucket.name)
    for name, value in bucket_env(s3_endpoint, bucket.name).items():
        monkeypatch.setenv(name, value)
    settings.MEDIA_ROOT = str(tmp_path / "media-unused")
    monkeypatch.setenv("EF_MEDIA_DIR", settings.MEDIA_ROOT)
    settings.STORAGE_KIND = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": default_storage_from_env(environ.Env())}
    yield bucket
    bucket.empty()


def local_media_files() -> list[str]:
    """Files under MEDIA_ROOT: none may appear while media lives in a bucket."""
    root = django_settings.MEDIA_ROOT
    if not os.path.isdir(root):
        return []
    return sorted(
        os.path.relpath(os.path.join(parent, name), root)
        for parent, _dirs, names in os.walk(root)
        for name in names
    )
