"""Documents a worker built, kept for the requests that ask again (packuments, gem indexes)."""
from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict

from flask import current_app


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

    def get(self, key: tuple):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
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
