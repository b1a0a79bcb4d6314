"""Request bodies read with a size limit, whether or not the client said how long they are."""
from __future__ import annotations

from typing import BinaryIO

from flask import request

from appliance.packages import UploadTooLarge


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
