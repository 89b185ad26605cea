"""Media in an S3-compatible object store (EF_STORAGE=s3): django-storages' S3Storage, with
what the product needs of a storage and S3Storage does not do.

- Reads stream. S3Storage's files download the whole object into memory before the first byte
  is read; here `open()` reads with ranged GETs as the reader goes (seeking starts a new
  range), `iter_range` sends one ranged GET for a download's answer, and `download_to` writes
  an object to a local file in parts (boto3's transfer manager).
- Writes go in parts of at most 8 MiB, a few at a time (bounded memory); a failed multipart
  upload is aborted by boto3, and `abort_uploads` ends the ones a killed process left.
- Errors are OSErrors with the store's answer in words (core.errors.storage_error turns them
  into a 507 or a job's readable failure); a missing object is FileNotFoundError.
- `walk` lists a prefix with sizes and modified times in one paged listing (no per-object
  HEAD), `probe` tells whether the bucket can be reached (the system check).

Only imported when EF_STORAGE=s3 (settings name it by path), so boto3 stays out of the
processes of a local install.
"""

import errno
import functools
import io
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError
from django.core.files.base import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from core.storage import StoredFile

MiB = 1024 * 1024
# Parts of 8 MiB, 4 at a time. A local file is uploaded from its path (each part read as it
# is sent); a stream's parts are read ahead into memory, at most 4 of them (boto3's default is
# 10), and a download's chunks wait for the disk at most 64 x 256 KiB (default 1000).
TRANSFER = TransferConfig(
    multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4, max_io_queue=64
)
TRANSFER.max_in_memory_upload_chunks = 4  # s3transfer's settings that boto3's cannot pass on
TRANSFER.max_in_memory_download_chunks = 64
CLIENT = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 4, "mode": "standard"})
# The bucket check of /health and the system check: one quick try, an answer within seconds.
PROBE = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1, "mode": "standard"})
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _os_error(exc: Exception, doing: str) -> OSError:
    """The OSError a filesystem would have raised, with the store's answer in words."""
    if isinstance(exc, Boto3Error) and isinstance(exc.__context__, ClientError | BotoCoreError):
        exc = exc.__context__  # a failed upload_fileobj: the answer that failed it
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code in _MISSING or status == 404 and code != "NoSuchBucket":
            return FileNotFoundError(errno.ENOENT, f"no such object ({doing})")
        number = errno.EACCES if code in _DENIED or status == 403 else errno.EIO
        return OSError(number, f"the object store refused {doing}: {code} ({message})")
    # Named by kind, never with the endpoint's URL (the words may reach an API client; the
    # cause, chained, is in the logs).
    if isinstance(exc, ConnectionError):
        return OSError(
            errno.ECONNREFUSED, f"the object store is unreachable ({type(exc).__name__})"
        )
    return OSError(errno.EIO, f"the object store failed {doing} ({type(exc).__name__})")


def _local_file(content) -> str | None:
    """The path of the regular local file `content` holds whole (an upload's temporary file, a
    job's output), or None for anything else (a stream, a pipe, a file in memory)."""
    if hasattr(content, "temporary_file_path"):
        return content.temporary_file_path()
    name = getattr(getattr(content, "file", None), "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        return name
    return None


def _translated(doing: str):
    """Boto errors of the decorated storage method become OSErrors (see _os_error)."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, name, *args, **kwargs):
            try:
                return method(self, name, *args, **kwargs)
            except (BotoCoreError, ClientError, Boto3Error) as exc:
                raise _os_error(exc, f"{doing} '{name}'") from exc

        return wrapper

    return decorate


class _RangeReader(io.RawIOBase):
    """A stored object read with ranged GETs from the current position: nothing is fetched
    before the first read, and a seek drops the open range (the next read starts another)."""

    def __init__(self, storage: "ObjectStorage", key: str, size: int):
        self._storage, self._key, self._size = storage, key, size
        self._pos, self._body = 0, None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._pos:
            self._drop_body()
            self._pos = position
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        if self._body is None:
            self._body = self._storage.get_range(self._key, self._pos, self._size - self._pos)
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class ObjectStorage(S3Storage):
    def __init__(self, **settings):
        settings.setdefault("transfer_config", TRANSFER)
        super().__init__(**settings)
        self.client_config = self.client_config.merge(CLIENT)
        self._probe_client = None

    @property
    def client(self):
        return self.connection.meta.client

    def _key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))

    # --- reads ------------------------------------------------------------------------------
    @_translated("opening")
    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            return super()._open(name, mode)  # S3File's multipart writer
        key = self._key(name)
        size = self.client.head_object(Bucket=self.bucket_name, Key=key)["ContentLength"]
        reader = io.BufferedReader(_RangeReader(self, key, size), buffer_size=256 * 1024)
        return _StreamedFile(reader, name, size)

    def get_range(self, key: str, start: int, length: int):
        """The streaming body of `length` bytes of `key` from `start` (one GET)."""
        try:
            answer = self.client.get_object(
                Bucket=self.bucket_name, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except (BotoCoreError, ClientError) as exc:
            raise _os_error(exc, f"reading '{key}'") from exc
        return answer["Body"]

    def iter_range(self, name: str, start: int, length: int, chunk: int) -> Iterator[bytes]:
        if length <= 0:
            return
        body = self.get_range(self._key(name), start, length)
        try:
            yield from body.iter_chunks(chunk)
        finally:
            body.close()

    @_translated("downloading")
    def download_to(self, name: str, target: Path) -> None:
        self.bucket.download_file(self._key(name), str(target), Config=self.transfer_config)

    # --- writes and the rest: S3Storage's, with errors in words ------------------------------
    @_translated("storing")
    def _save(self, name, content):
        path = _local_file(content)
        if path is None:
            return super()._save(name, content)  # a stream: upload_fileobj
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).upload_file(path, ExtraArgs=params, Config=self.transfer_config)
        return cleaned

    @_translated("deleting")
    def delete(self, name):
        return super().delete(name)

    @_translated("looking for")
    def exists(self, name):
        return super().exists(name)

    @_translated("measuring")
    def size(self, name):
        return super().size(name)

    @_translated("dating")
    def get_modified_time(self, name):
        return super().get_modified_time(name)

    @_translated("listing")
    def listdir(self, name):
        return super().listdir(name)

    # --- listing and repairs -----------------------------------------------------------------
    def _relative(self, key: str) -> str:
        return key[len(self.location) :].lstrip("/") if self.location else key

    @_translated("listing")
    def walk(self, prefix: str) -> Iterator[StoredFile]:
        """Every object under the folder `prefix`, with its size and modified time."""
        paginator = self.client.get_paginator("list_objects_v2")
        folder = self._key(prefix).rstrip("/") + "/"
        for page in paginator.paginate(Bucket=self.bucket_name, Prefix=folder):
            for entry in page.get("Contents", ()):
                name = self._relative(entry["Key"])
                yield StoredFile(name, entry["Size"], entry["LastModified"])

    @_translated("listing the unfinished uploads of")
    def unfinished_uploads(
        self, prefix: str, *, started_before: datetime | None = None, exact: bool = False
    ) -> list[tuple[str, str]]:
        """(name, upload id) of the unfinished multipart uploads whose key starts with `prefix`
        (is `prefix`, when `exact`; begun before `started_before`, when given): what a process
        killed in the middle of a write left. They are not objects (no listing shows them),
        but the store keeps their parts until they are aborted."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        key = self._key(prefix)  # a folder's trailing slash is kept
        found = []
        for page in paginator.paginate(Bucket=self.bucket_name, Prefix=key):
            for upload in page.get("Uploads", ()):
                if exact and upload["Key"] != key:
                    continue
                if started_before is None or upload["Initiated"] < started_before:
                    found.append((self._relative(upload["Key"]), upload["UploadId"]))
        return found

    @_translated("ending the unfinished uploads of")
    def abort_uploads(
        self, prefix: str, *, started_before: datetime | None = None, exact: bool = False
    ) -> int:
        """Abort the uploads `unfinished_uploads` names; returns how many."""
        uploads = self.unfinished_uploads(prefix, started_before=started_before, exact=exact)
        for name, upload_id in uploads:
            self.client.abort_multipart_upload(
                Bucket=self.bucket_name, Key=self._key(name), UploadId=upload_id
            )
        return len(uploads)

    def probe(self) -> None:
        """Raise an OSError in words unless the bucket answers (and these credentials may use
        it)."""
        if self._probe_client is None:  # boto3 clients are thread-safe: one for every probe
            self._probe_client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                use_ssl=self.use_ssl,
                endpoint_url=self.endpoint_url,
                config=self.client_config.merge(PROBE),
                verify=self.verify,
            )
        try:
            self._probe_client.head_bucket(Bucket=self.bucket_name)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                # A HEAD's answer has no body to name the error: say it.
                message = f"the bucket '{self.bucket_name}' does not exist (NoSuchBucket)"
                raise OSError(errno.EIO, message) from exc
            raise _os_error(exc, f"access to the bucket '{self.bucket_name}'") from exc
        except BotoCoreError as exc:
            raise _os_error(exc, f"access to the bucket '{self.bucket_name}'") from exc


class _StreamedFile(File):
    """A read-only stored file over a _RangeReader, its size known from the HEAD."""

    def __init__(self, reader, name: str, size: int):
        super().__init__(reader, name)
        self.size = size
