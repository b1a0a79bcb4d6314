"""Serialized documents of this worker, keyed by what they are built from."""
from __future__ import annotations

import threading
from collections import OrderedDict


class DocumentCache:
    """An LRU of serialized documents (npm packuments, NuGet registration pages ...) of this worker.

    Keys carry the package's `updated_at`: every change to a package moves it, so a stale entry is
    never hit again and only waits to be evicted. Each worker keeps its own; no other worker or node
    needs what is here.
    """

    def __init__(self, size: int = 512):
        self.size = size
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        with self._lock:
            self._entries[key] = body
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
