"""core.objectstore against a real S3-compatible server (moto): reads stream by range, listings
carry sizes and times, errors come in words, and a wrong setting stops startup saying which."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core import storage
from core.checks import storage_check
from core.objectstore import ObjectStorage
from tests.s3server import bucket_env

DATA = bytes(range(256)) * 4096  # 1 MiB, every offset distinguishable


def test_the_bucket_holds_what_is_saved_and_reads_come_by_range(s3):
    name = default_storage.save("jobs/a/output/data.bin", ContentFile(DATA))
    assert isinstance(default_storage._wrapped, ObjectStorage)
    assert s3.keys() == ["jobs/a/output/data.bin"]
    assert default_storage.size(name) == len(DATA) and default_storage.exists(name)
    with default_storage.open(name, "rb") as fh:
        assert fh.size == len(DATA)
        fh.seek(1000)
        assert fh.read(10) == DATA[1000:1010]
        fh.seek(-5, os.SEEK_END)
        assert fh.read() == DATA[-5:]
    chunks = list(storage.iter_range(name, 7, 300_000, chunk=65536))
    assert b"".join(chunks) == DATA[7:300_007]
    assert max(len(c) for c in chunks) <= 65536


def test_a_taken_name_gets_a_free_variant_and_is_never_replaced(s3):
    first = default_storage.save("library/clip/x.mp4", ContentFile(b"first"))
    second = default_storage.save("library/clip/x.mp4", ContentFile(b"second"))
    assert first != second and len(s3.keys("library/")) == 2
    assert default_storage.open(first).read() == b"first"


def test_listing_a_folder_gives_sizes_and_times_and_a_missing_one_nothing(s3):
    s3.put("jobs/j1/output/a.mp4", b"a" * 10)
    s3.put("jobs/j1/output/deep/b.srt", b"b" * 3)
    s3.put("jobs2/elsewhere.txt", b"not under jobs/")
    found = {f.name: f.size for f in storage.stored_files("jobs")}
    assert found == {"jobs/j1/output/a.mp4": 10, "jobs/j1/output/deep/b.srt": 3}
    assert all(f.modified.tzinfo is not None for f in storage.stored_files("jobs"))
    assert list(storage.stored_files("nothing-here")) == []
    assert default_storage.listdir("jobs/j1/output") == (["deep"], ["a.mp4"])


def test_a_missing_object_is_file_not_found(s3):
    with pytest.raises(FileNotFoundError):
        default_storage.open("jobs/none.bin")
    with pytest.raises(FileNotFoundError):
        default_storage.size("jobs/none.bin")
    assert storage.discard("jobs/none.bin") is False


def test_copy_to_local_writes_the_object_to_disk(s3, tmp_path):
    name = default_storage.save("jobs/a/input/source.mp4", ContentFile(DATA))
    target = storage.copy_to_local(name, tmp_path / "copy.mp4")
    assert target.read_bytes() == DATA
    assert storage.in_place_path(name) is None


def test_an_unfinished_upload_is_listed_and_discarding_its_name_ends_it(s3):
    s3.client.create_multipart_upload(Bucket=s3.name, Key="jobs/j/output/cut.mp4")
    assert storage.unfinished_uploads("jobs") == ["jobs/j/output/cut.mp4"]
    assert storage.unfinished_uploads("library") == []
    storage.discard("jobs/j/output/cut.mp4")
    assert s3.unfinished() == []


def test_a_missing_bucket_is_an_error_in_words_and_a_failed_check(s3, settings):
    s3.client.delete_bucket(Bucket=s3.name)
    with pytest.raises(OSError, match="NoSuchBucket"):
        default_storage.save("jobs/x.bin", ContentFile(b"x"))
    [error] = storage_check()
    assert error.id == "core.E001" and "NoSuchBucket" in error.msg and "EF_S3_BUCKET" in error.hint
    s3.client.create_bucket(Bucket=s3.name)  # for the fixture's teardown
    assert storage_check() == []


def test_an_unreachable_store_is_a_readable_507_for_an_upload(s3, settings, api, media):
    options = {**settings.STORAGES["default"]["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": options},
    }
    with media.video().open("rb") as fh:
        response = api.post("/api/v1/library/videos/info", {"file": fh})
    assert response.status_code == 507, response.content
    message = response.json()["detail"]
    assert "media storage is unreachable" in message and "127.0.0.1:9" not in message


def _check(**env) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("EF_S3_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**keep, "DJANGO_SETTINGS_MODULE": "editfactory.settings", "EF_STORAGE": "s3", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.BASE_DIR,
    )


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "EF_STORAGE=s3 needs EF_S3_BUCKET"),
        ({"EF_S3_BUCKET": "Bad_Name"}, "is not a valid bucket name"),
        ({"EF_S3_BUCKET": "media", "EF_S3_ENDPOINT_URL": "ftp://x"}, "is not an http(s) URL"),
        ({"EF_S3_BUCKET": "media", "EF_S3_ACCESS_KEY_ID": "k"}, "is set but the secret key"),
        ({"EF_S3_BUCKET": "media", "EF_S3_ADDRESSING_STYLE": "odd"}, "must be one of"),
        ({"EF_STORAGE": "nfs"}, "is not a storage kind"),
    ],
)
def test_a_wrong_setting_stops_startup_naming_it(env, words):
    result = _check(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and words in result.stderr


@pytest.mark.django_db
def test_check_passes_with_a_reachable_bucket_and_fails_without_one(s3_endpoint, s3):
    assert _check(**bucket_env(s3_endpoint, s3.name)).returncode == 0
    failed = _check(**bucket_env(s3_endpoint, "no-such-bucket-here"))
    assert failed.returncode != 0 and "core.E001" in failed.stderr
    assert "NoSuchBucket" in failed.stderr


def test_a_prefix_keeps_everything_in_its_folder_of_the_bucket(s3, settings):
    options = {**settings.STORAGES["default"]["OPTIONS"], "location": "edit-factory"}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": options},
    }
    name = default_storage.save("jobs/j/output/a.bin", ContentFile(b"abc"))
    assert name == "jobs/j/output/a.bin" and s3.keys() == ["edit-factory/jobs/j/output/a.bin"]
    assert [f.name for f in storage.stored_files("jobs")] == [name]
    s3.client.create_multipart_upload(Bucket=s3.name, Key="edit-factory/jobs/j/output/b.bin")
    assert storage.unfinished_uploads("jobs") == ["jobs/j/output/b.bin"]
    assert storage.discard_unfinished("jobs") == 1 and s3.unfinished() == []
    assert b"".join(storage.iter_range(name, 1, 2)) == b"bc"


@pytest.mark.django_db
def test_health_says_whether_the_bucket_answers_and_never_where_it_is(s3, client, s3_endpoint):
    body = client.get("/api/v1/health").json()
    assert body["storage"] == {"ok": True, "detail": "object store (s3)"}
    s3.client.delete_bucket(Bucket=s3.name)
    try:
        response = client.get("/api/v1/health")
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
        detail = response.json()["storage"]["detail"]
        assert "does not exist (NoSuchBucket)" in detail and s3_endpoint not in detail
    finally:
        s3.client.create_bucket(Bucket=s3.name)  # for the fixture's teardown
