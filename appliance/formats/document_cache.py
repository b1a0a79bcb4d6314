"""Documents a worker built, kept for the requests that ask again (packuments, gem indexes)."""
from __future__ import annotations

import threading
from collections import OrderedDict


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
