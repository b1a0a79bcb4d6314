"""Request bodies read with a size limit, whether or not the client said how long they are, and the
one way an upload is held while it is parsed (`spool`)."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, BinaryIO

from flask import request

from appliance.packages import UploadTooLarge

# An upload up to this size stays in memory while it is parsed; a larger one spills to disk.
SPOOL_BYTES = 32 * 1024 * 1024


class LimitedBody:
    """A read-only stream over the request body that refuses to go past `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int, what: str):
        self._stream = stream
        self._limit = limit
        self._what = what
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._limit + 1 - self._read
        data = self._stream.read(min(size, self._limit + 1 - self._read))
        self._read += len(data)
        if self._read > self._limit:
            raise UploadTooLarge(f"{self._what} is larger than this appliance accepts ({self._limit} bytes)")
        return data


def limited_body(limit: int, what: str = "the upload") -> LimitedBody:
    """The request body, refused at once when its declared length is over `limit`, and cut off
    with UploadTooLarge when a chunked body grows past it."""
    if request.content_length is not None and request.content_length > limit:
        raise UploadTooLarge(f"{what} is {request.content_length} bytes; this appliance accepts up to {limit}")
    return LimitedBody(request.stream, limit, what)


def spool(*_args, **_kwargs) -> IO[bytes]:
    """A file to hold an upload while it is parsed (also werkzeug's `stream_factory` for form parts):
    in memory up to SPOOL_BYTES, on disk past that. The caller closes it."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)


@contextlib.contextmanager
def spooled_body(limit: int, what: str = "the upload") -> Iterator[IO[bytes]]:
    """The whole request body (at most `limit` bytes) in a spool, at its start, for parsers that seek."""
    with spool() as sink:
        shutil.copyfileobj(limited_body(limit, what), sink, 1024 * 1024)
        sink.seek(0)
        yield sink
