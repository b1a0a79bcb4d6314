"""Documents a worker built, kept for the requests that ask again (packuments, gem indexes)."""
from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from flask import current_app

T = TypeVar("T")


class DocumentCache:
    """Built documents of this worker, keyed by what they are built from.

    Every change to a package moves its `updated_at`, so a key holding it is never hit again once stale:
    the entry only waits to be evicted. Each worker keeps its own; no other worker or node needs what is
    here.
    """

    def __init__(self, size: int = 512):
        self.size = size
        self._entries: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def get_or_build(self, key: tuple, build: Callable[[], T]) -> T:
        """The document for `key`, built by `build()` when the worker has none. One thread builds it while
        the others asking for the same key wait for that one: after a popular package changes, every
        thread of the worker would otherwise build it at once, each the slower for the others under the
        GIL (1,000 versions: seconds for all of them instead of a fraction of one)."""
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        try:
            with gate:
                value = self.get(key)
                if value is None:
                    value = build()
                    self.put(key, value)
        finally:
            with self._lock:
                if self._building.get(key) is gate:
                    del self._building[key]
        return value

    def put(self, key: tuple, value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def keyed_tag(key: tuple) -> str:
    """An ETag (or revision) for a document known by `key`, hashed under the appliance's secret key:
    keys hold internals (package ids, update times) that an unkeyed hash lets anyone recover by
    guessing, and ids counted between two public packages tell how many private ones were made."""
    secret = hmac.new(current_app.config["SECRET_KEY"].encode(), b"document tags", hashlib.sha256).digest()
    return hmac.new(secret, repr(key).encode(), hashlib.sha256).hexdigest()[:40]
