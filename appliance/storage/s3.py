"""S3-compatible storage (AWS S3, MinIO, Ceph, moto): the same small contract as local disk.

Writes stream as multipart uploads of `part_size` parts (each sent with its MD5, so the store checks
every part), so no more than one part is ever in memory and nothing touches local disk. S3 cannot
append: an appending writer begins a multipart upload whose first part is a server-side copy of what the
object holds (small objects, under S3's 5 MiB minimum part, are read back instead), and completing it
replaces the object, so Docker's chunked uploads continue across requests and nodes. A writer that
dies leaves an unfinished multipart upload, which `abort_stale_writes` (the cleanup job) removes.
Reads are ranged GETs: seeking costs nothing until the next read.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from appliance.storage.base import (
    InvalidStorageConfig,
    PathNotFound,
    Storage,
    StorageUnavailable,
    StoredObject,
    Writer,
    check_path,
)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024
OPTIONS = ("endpoint_url", "bucket", "region", "prefix", "access_key_id", "secret_access_key",
           "redirect_downloads", "redirect_seconds", "part_size")


def _status(error) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _not_found(error) -> bool:
    return _status(error) == 404 or error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey",
                                                                                    "NoSuchUpload")


def _unavailable(endpoint: str, error: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"the object store ({endpoint}) is not answering as it should: {error}")


def _translate(method):
    """Store failures (unreachable, 5xx, timeouts) become StorageUnavailable, which clients get as 503."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(self, *args, **kwargs)
        except ClientError as e:
            if _status(e) >= 500 or _status(e) == 0:
                raise _unavailable(self.endpoint, e) from None
            raise
        except BotoCoreError as e:
            raise _unavailable(self.endpoint, e) from None

    return wrapper


class S3Writer(Writer):
    def __init__(self, storage: S3Storage, key: str, append: bool):
        self.storage = storage
        self.endpoint = storage.endpoint
        self._client = storage.client
        self._key = key
        self._buffer = bytearray()
        self._parts: list[dict] = []
        self._upload_id: str | None = None
        self._done = False
        self._size = 0
        if append:
            self._continue()

    @_translate
    def _continue(self) -> None:
        existing = self.storage.stat_key(self._key)
        if not existing:
            return
        self._size = existing
        if existing >= MIN_PART_SIZE:
            self._begin()
            copied = self._client.upload_part_copy(
                Bucket=self.storage.bucket, Key=self._key, UploadId=self._upload_id, PartNumber=1,
                CopySource={"Bucket": self.storage.bucket, "Key": self._key})
            self._parts.append({"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]})
        else:
            body = self._client.get_object(Bucket=self.storage.bucket, Key=self._key)["Body"]
            self._buffer += body.read()

    def _begin(self) -> None:
        started = self._client.create_multipart_upload(Bucket=self.storage.bucket, Key=self._key)
        self._upload_id = started["UploadId"]

    @_translate
    def write(self, data: bytes) -> None:
        self._buffer += data
        self._size += len(data)
        part_size = self.storage.part_size
        while len(self._buffer) >= part_size:
            self._send_part(bytes(self._buffer[:part_size]))
            del self._buffer[:part_size]

    def _send_part(self, part: bytes) -> None:
        if self._upload_id is None:
            self._begin()
        number = len(self._parts) + 1
        md5 = base64.b64encode(hashlib.md5(part).digest()).decode()
        sent = self._client.upload_part(Bucket=self.storage.bucket, Key=self._key, UploadId=self._upload_id,
                                        PartNumber=number, Body=part, ContentMD5=md5)
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    @property
    def size(self) -> int:
        return self._size

    @_translate
    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        if self._upload_id is None:
            data = bytes(self._buffer)
            md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
            self._client.put_object(Bucket=self.storage.bucket, Key=self._key, Body=data, ContentMD5=md5)
        else:
            if self._buffer:
                self._send_part(bytes(self._buffer))
            self._client.complete_multipart_upload(Bucket=self.storage.bucket, Key=self._key,
                                                   UploadId=self._upload_id,
                                                   MultipartUpload={"Parts": self._parts})
        self._buffer = bytearray()

    @_translate
    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(Bucket=self.storage.bucket, Key=self._key,
                                                UploadId=self._upload_id)
        self._client.delete_object(Bucket=self.storage.bucket, Key=self._key)


class S3Reader(io.RawIOBase):
    """A seekable file object over ranged GETs: a new GET only when a read follows a seek."""

    def __init__(self, storage: S3Storage, key: str, size: int, offset: int):
        super().__init__()
        self.storage = storage
        self.endpoint = storage.endpoint
        self._key = key
        self._size = size
        self._position = offset
        self._body = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._position:
            self._drop_body()
            self._position = position
        return self._position

    @_translate
    def readinto(self, buffer) -> int:
        if self._position >= self._size:
            return 0
        if self._body is None:
            answer = self.storage.client.get_object(Bucket=self.storage.bucket, Key=self._key,
                                                    Range=f"bytes={self._position}-")
            self._body = answer["Body"]
        data = self._body.read(len(buffer))
        if not data and self._position < self._size:
            raise StorageUnavailable(f"the object store ended {self._key} at byte {self._position} "
                                     f"of {self._size}")
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class S3Storage(Storage):
    def __init__(self, options: dict):
        import boto3
        from botocore.config import Config

        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidStorageConfig(f"unknown [storage] keys for the s3 backend: {', '.join(unknown)} "
                             f"(known: {', '.join(OPTIONS)})")
        if not options.get("bucket"):
            raise InvalidStorageConfig("[storage] backend = \"s3\" needs a bucket")
        self.bucket = options["bucket"]
        prefix = str(options.get("prefix", "")).strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = options.get("endpoint_url") or "AWS S3"
        self.redirect_downloads = bool(options.get("redirect_downloads", False))
        self.redirect_seconds = int(options.get("redirect_seconds", 300))
        self.part_size = max(MIN_PART_SIZE, int(options.get("part_size", DEFAULT_PART_SIZE)))
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.get("endpoint_url") or None,
            region_name=options.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            # Without keys here, boto3 reads AWS_ACCESS_KEY_ID and the rest of its usual chain.
            aws_access_key_id=options.get("access_key_id") or None,
            aws_secret_access_key=options.get("secret_access_key") or None,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                          retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=5, read_timeout=60, max_pool_connections=64))

    def _key(self, path: str) -> str:
        return self.prefix + check_path(path)

    def writer(self, path: str, append: bool = False) -> Writer:
        return S3Writer(self, self._key(path), append)

    @_translate
    def stat_key(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as e:
            if _not_found(e):
                return None
            raise

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        key = self._key(path)
        size = self.stat_key(key)
        if size is None:
            raise PathNotFound(path)
        return io.BufferedReader(S3Reader(self, key, size, offset), buffer_size=1024 * 1024)

    def stat(self, path: str) -> int | None:
        return self.stat_key(self._key(path))

    @_translate
    def move(self, source: str, destination: str) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import ClientError

        key = self._key(source)
        try:
            # Server-side: a single copy below 4 GiB, a multipart copy above (S3 copies at most 5 GiB).
            self.client.copy({"Bucket": self.bucket, "Key": key}, self.bucket, self._key(destination),
                             Config=TransferConfig(multipart_threshold=4 * 1024**3,
                                                   multipart_chunksize=512 * 1024**2, max_concurrency=4))
        except ClientError as e:
            if _not_found(e):
                raise PathNotFound(source) from None
            raise
        self.client.delete_object(Bucket=self.bucket, Key=key)

    @_translate
    def delete(self, path: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(path))

    @_translate
    def list(self, prefix: str) -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix) + "/")
        for page in pages:
            for item in page.get("Contents", []):
                modified = item["LastModified"].astimezone(dt.UTC).replace(tzinfo=None)
                yield StoredObject(item["Key"][len(self.prefix):], int(item["Size"]), modified)

    @_translate
    def download_url(self, path: str) -> str | None:
        if not self.redirect_downloads:
            return None
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(path)},
            ExpiresIn=self.redirect_seconds)

    @_translate
    def abort_stale_writes(self, older_than: dt.timedelta) -> int:
        cutoff = dt.datetime.now(dt.UTC) - older_than
        aborted = 0
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                    aborted += 1
        return aborted
