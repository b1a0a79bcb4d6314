from __future__ import annotations

from appliance.storage.base import Storage


def open_storage(backend: str, path, options: dict | None = None) -> Storage:
    if backend == "local":
        from appliance.storage.local import LocalStorage

        return LocalStorage(path)
    raise ValueError(f"unknown storage backend {backend!r} (available: local)")
