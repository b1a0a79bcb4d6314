from __future__ import annotations

from appliance.storage.base import InvalidStorageConfig, Storage


def open_storage(backend: str, path, options: dict | None = None) -> Storage:
    if backend == "local":
        from appliance.storage.local import LocalStorage

        return LocalStorage(path)
    if backend == "s3":
        from appliance.storage.s3 import S3Storage

        return S3Storage(options or {})
    raise InvalidStorageConfig(f"unknown storage backend {backend!r} (available: local, s3)")
