"""Local-disk storage: the embedded default."""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from appliance.storage.base import PathNotFound, Storage, StoredObject, Writer, check_path


class LocalWriter(Writer):
    def __init__(self, target: Path, append: bool):
        target.parent.mkdir(parents=True, exist_ok=True)
        self._target = target
        self._file = open(target, "ab" if append else "wb")  # noqa: SIM115 - the writer owns it until commit
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    @property
    def size(self) -> int:
        return self._size

    def commit(self) -> None:
        if self._file.closed:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def cancel(self) -> None:
        self._file.close()
        self._target.unlink(missing_ok=True)


class LocalStorage(Storage):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, path: str) -> Path:
        return self.root / check_path(path)

    def writer(self, path: str, append: bool = False) -> Writer:
        return LocalWriter(self._path(path), append)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._path(path), "rb")  # noqa: SIM115 - handed to the caller
        except FileNotFoundError:
            raise PathNotFound(path) from None
        if offset:
            f.seek(offset)
        return f

    def stat(self, path: str) -> int | None:
        try:
            return self._path(path).stat().st_size
        except FileNotFoundError:
            return None

    def move(self, source: str, destination: str) -> None:
        src, dst = self._path(source), self._path(destination)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            raise PathNotFound(source) from None
        # The rename is durable only once the directory entry is on disk.
        fd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        top = self._path(prefix)
        for directory, _, names in os.walk(top):
            for name in names:
                full = Path(directory) / name
                try:
                    info = full.stat()
                except FileNotFoundError:
                    continue  # removed while we walked
                modified = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC).replace(tzinfo=None)
                yield StoredObject(full.relative_to(self.root).as_posix(), info.st_size, modified)
