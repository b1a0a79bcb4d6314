"""Content-addressed blobs on top of any Storage: written once, verified, shared by every format."""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from appliance.storage.base import PathNotFound, Storage

CHUNK_SIZE = 1024 * 1024


class BlobTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the upload is larger than the limit of {limit} bytes")
        self.limit = limit


class BlobDigestMismatch(Exception):
    def __init__(self, algorithm: str, expected: str, actual: str):
        super().__init__(f"{algorithm} of the upload is {actual}, but the client said {expected}")
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    digests: dict[str, str]  # every algorithm computed on the way in, sha256 included
    newly_stored: bool  # False when the same content was already there


def blob_path(sha256: str) -> str:
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


class BlobStore:
    def __init__(self, storage: Storage):
        self.storage = storage

    def ingest(
        self,
        chunks: Iterable[bytes],
        *,
        expected: dict[str, str] | None = None,
        algorithms: Iterable[str] = (),
        max_size: int | None = None,
    ) -> StoredBlob:
        """Stream `chunks` into the store, hashing as they pass, and keep them under their sha256.

        `expected` maps algorithm to the hex digest the client claimed; a mismatch, or more than
        `max_size` bytes, raises and leaves nothing behind. Identical content is stored once.
        """
        expected = {k: v.lower() for k, v in (expected or {}).items()}
        names = {"sha256", *algorithms, *expected}
        hashers = {name: hashlib.new(name) for name in names}
        upload = f"uploads/{uuid.uuid4().hex}"
        writer = self.storage.writer(upload)
        try:
            for chunk in chunks:
                if max_size is not None and writer.size + len(chunk) > max_size:
                    raise BlobTooLarge(max_size)
                writer.write(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
            digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
            for name, claimed in expected.items():
                if digests[name] != claimed:
                    raise BlobDigestMismatch(name, claimed, digests[name])
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        size = writer.size
        sha256 = digests["sha256"]
        final = blob_path(sha256)
        if self.storage.stat(final) is not None:
            self.storage.delete(upload)
            return StoredBlob(sha256, size, digests, newly_stored=False)
        self.storage.move(upload, final)
        return StoredBlob(sha256, size, digests, newly_stored=True)

    def adopt(self, path: str, expected: dict[str, str], *, hashed: tuple[str, int] | None = None) -> StoredBlob:
        """Make the finished upload at `path` the blob whose digests are `expected` (algorithm to hex: sha256,
        sha512 or both): moved into place, never copied.

        The blob is the upload's first `size` bytes, verified against `hashed` (the sha256 and size
        computed while the bytes streamed in, enough when sha256 is all that is expected) or, without it,
        by reading what is there again; a request still appending to the upload cannot add to what was
        verified, as the blob's size stays the verified one. A mismatch removes the upload and raises
        BlobDigestMismatch; content the store already has is kept once and the upload dropped.
        """
        if hashed is not None and set(expected) <= {"sha256"}:
            digests, size = {"sha256": hashed[0]}, hashed[1]
        else:
            digests, size = self.hash_file(path, {"sha256", *expected})
        for algorithm, claimed in expected.items():
            if digests[algorithm] != claimed:
                self.storage.delete(path)
                raise BlobDigestMismatch(algorithm, claimed, digests[algorithm])
        sha256 = digests["sha256"]
        if self.storage.stat(blob_path(sha256)) is not None:
            self.storage.delete(path)
            return StoredBlob(sha256, size, digests, newly_stored=False)
        self.storage.move(path, blob_path(sha256))
        return StoredBlob(sha256, size, digests, newly_stored=True)

    def hash_file(self, path: str, algorithms: Iterable[str]) -> tuple[dict[str, str], int]:
        """The digests and size of what is at `path` now, read once."""
        size = self.storage.stat(path)
        if size is None:
            raise PathNotFound(path)
        hashers = {name: hashlib.new(name) for name in algorithms}
        with self.storage.reader(path) as stream:
            remaining = size
            while remaining and (chunk := stream.read(min(CHUNK_SIZE, remaining))):
                for hasher in hashers.values():
                    hasher.update(chunk)
                remaining -= len(chunk)
        return {name: hasher.hexdigest() for name, hasher in hashers.items()}, size

    def files_before(self, cutoff: dt.datetime) -> Iterator[tuple[str, str | None]]:
        """(path, sha256) of the blobs, and (path, None) of the uploads in progress, last written before
        `cutoff`: what a cleanup compares with the rows that know of them."""
        for stored in self.storage.list("uploads"):
            if stored.modified_at < cutoff:
                yield stored.path, None
        for stored in self.storage.list("blobs"):
            if stored.modified_at < cutoff:
                yield stored.path, stored.path.rsplit("/", 1)[-1]

    def open(self, sha256: str, offset: int = 0) -> BinaryIO:
        return self.storage.reader(blob_path(sha256), offset)

    def download_url(self, sha256: str) -> str | None:
        """A short-lived URL of the store itself for the blob, when the store hands those out."""
        return self.storage.download_url(blob_path(sha256))

    def exists(self, sha256: str) -> bool:
        return self.storage.stat(blob_path(sha256)) is not None

    def delete(self, sha256: str) -> None:
        self.storage.delete(blob_path(sha256))
