"""The storage contract: a short interface that local disk and S3-compatible stores implement.

Everything above it (content-addressed blobs, upload sessions, cleanup) is written once against it, and
nothing else knows which backend is in use. Paths are '/'-separated keys relative to the store's root.
"""
from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


class StorageError(Exception):
    pass


class InvalidStorageConfig(StorageError, ValueError):
    """A [storage] section of appliance.toml that names no store this appliance can open."""


class PathNotFound(StorageError):
    def __init__(self, path: str):
        super().__init__(f"no such path in storage: {path}")
        self.path = path


class InvalidPath(StorageError):
    pass


class StorageUnavailable(StorageError):
    """The store did not answer, or answered with a server error: the request may be tried again."""


@dataclass(frozen=True)
class StoredObject:
    path: str
    size: int
    modified_at: dt.datetime  # naive UTC, like every time the appliance keeps


class Writer(ABC):
    """Bytes appended to one path; visible to readers once committed."""

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @property
    @abstractmethod
    def size(self) -> int:
        """Bytes at the path so far, including what an appending writer found there."""

    @abstractmethod
    def commit(self) -> None:
        """Make everything written durable and visible."""

    @abstractmethod
    def cancel(self) -> None:
        """Drop everything this writer wrote, leaving nothing behind."""


class Storage(ABC):
    @abstractmethod
    def writer(self, path: str, append: bool = False) -> Writer:
        """A writer at `path`; with append, continuing what is already there (resumable uploads)."""

    @abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A file object positioned at `offset`; raises PathNotFound."""

    @abstractmethod
    def stat(self, path: str) -> int | None:
        """The size of the object at `path`, or None when there is none."""

    @abstractmethod
    def move(self, source: str, destination: str) -> None:
        """Atomically put `source` at `destination`, replacing what is there."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove `path` if it exists."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose path starts with `prefix/`, in no particular order (for cleanup)."""

    def download_url(self, path: str) -> str | None:
        """A short-lived URL clients can fetch `path` from directly, or None to stream it ourselves."""
        return None

    def abort_stale_writes(self, older_than: dt.timedelta) -> int:
        """Drop writes begun more than `older_than` ago and never committed (a writer that died);
        returns how many. Stores whose unfinished writes are plain files leave them to the sweep."""
        return 0


def check_path(path: str) -> str:
    """Storage paths are made by the appliance, never by clients; refuse anything that could climb out."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise InvalidPath(f"invalid storage path: {path!r}")
    return path
