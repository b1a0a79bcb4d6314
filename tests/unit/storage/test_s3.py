"""S3Storage against moto's S3 server: the storage contract, multipart streaming, appends across
writers (Docker's chunked uploads), ranged reads, stale multipart uploads, and a store that fails."""
from __future__ import annotations

import datetime as dt
import hashlib
import tracemalloc

import pytest

from appliance.storage.base import PathNotFound, StorageUnavailable
from appliance.storage.blobs import BlobStore, blob_path
from appliance.storage.s3 import MIN_PART_SIZE, S3Storage
from tests.support.live import free_port
from tests.support.s3 import MotoServer, failing_store

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def storage(moto):
    return S3Storage(moto.options(prefix="appliance", part_size=MIN_PART_SIZE))


def put(storage, path: str, data: bytes) -> None:
    writer = storage.writer(path)
    writer.write(data)
    writer.commit()


def read(storage, path: str, offset: int = 0) -> bytes:
    with storage.reader(path, offset) as f:
        return f.read()


def test_writer_commit_makes_the_bytes_readable_under_the_prefix(storage, moto):
    put(storage, "a/b/c.bin", b"hello world")
    assert storage.stat("a/b/c.bin") == 11
    assert read(storage, "a/b/c.bin") == b"hello world"
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=storage.bucket)["Contents"]]
    assert keys == ["appliance/a/b/c.bin"]


def test_a_large_write_goes_up_in_parts_and_holds_one_part_in_memory(storage, moto):
    writer = storage.writer("big")
    digest = hashlib.sha256()
    tracemalloc.start()
    for i in range(24):  # 24 MiB
        chunk = bytes([i]) * MiB
        writer.write(chunk)
        digest.update(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    assert moto.client().list_multipart_uploads(Bucket=storage.bucket)["Uploads"]  # parts went already
    writer.commit()
    tracemalloc.stop()
    assert peak < 4 * MIN_PART_SIZE, peak
    assert storage.stat("big") == 24 * MiB
    with storage.reader("big") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest.hexdigest()
    assert "Uploads" not in moto.client().list_multipart_uploads(Bucket=storage.bucket)


@pytest.mark.parametrize("first", [3, MIN_PART_SIZE + 3], ids=["small-start", "start-past-one-part"])
def test_appending_writers_continue_the_object(storage, first):
    put(storage, "uploads/sessions/u", b"a" * first)
    writer = storage.writer("uploads/sessions/u", append=True)
    assert writer.size == first
    writer.write(b"b" * (6 * MiB))
    writer.commit()
    again = storage.writer("uploads/sessions/u", append=True)
    again.write(b"c")
    again.commit()
    assert storage.stat("uploads/sessions/u") == first + 6 * MiB + 1
    assert read(storage, "uploads/sessions/u") == b"a" * first + b"b" * (6 * MiB) + b"c"


def test_cancel_leaves_nothing_behind(storage, moto):
    writer = storage.writer("uploads/u1")
    writer.write(b"x" * (MIN_PART_SIZE + 1))
    writer.cancel()
    writer.commit()  # after a cancel, harmless
    assert storage.stat("uploads/u1") is None
    assert "Uploads" not in moto.client().list_multipart_uploads(Bucket=storage.bucket)


def test_reads_are_ranged_from_any_offset_and_seekable(storage):
    put(storage, "r", bytes(range(256)) * 4)
    assert read(storage, "r", 1000) == bytes(range(232, 256))
    with storage.reader("r") as f:
        f.seek(-2, 2)
        assert f.read() == bytes([254, 255])
        f.seek(10)
        assert f.read(3) == bytes([10, 11, 12])
    with pytest.raises(PathNotFound):
        storage.reader("missing")


def test_move_stat_delete_and_list(storage):
    put(storage, "uploads/a", b"12345")
    put(storage, "uploads/sessions/b", b"")
    put(storage, "blobs/sha256/ab/abc", b"x")
    listed = {o.path: o for o in storage.list("uploads")}
    assert sorted(listed) == ["uploads/a", "uploads/sessions/b"]
    assert listed["uploads/a"].size == 5 and listed["uploads/a"].modified_at.tzinfo is None
    storage.move("uploads/a", "blobs/sha256/12/12345")
    assert storage.stat("uploads/a") is None and storage.stat("blobs/sha256/12/12345") == 5
    with pytest.raises(PathNotFound):
        storage.move("uploads/a", "elsewhere")
    storage.delete("blobs/sha256/12/12345")
    storage.delete("blobs/sha256/12/12345")  # gone already: fine
    assert storage.stat("blobs/sha256/12/12345") is None


def test_blob_store_ingests_verified_content_on_s3(storage):
    blobs = BlobStore(storage)
    data = b"layer" * (2 * MiB)
    stored = blobs.ingest(iter([data[:MiB], data[MiB:]]), algorithms=["sha512"])
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.digests["sha512"] == hashlib.sha512(data).hexdigest()
    assert storage.stat(blob_path(stored.sha256)) == len(data)
    assert list(storage.list("uploads")) == []


def test_the_cleanup_aborts_multipart_uploads_a_dead_writer_left(storage, moto):
    writer = storage.writer("uploads/dead")
    writer.write(b"x" * (MIN_PART_SIZE + 1))  # a part went up; the worker "dies" here
    # moto dates every multipart upload in 2010, so only "older than nothing" is tested here.
    assert storage.abort_stale_writes(dt.timedelta(0)) == 1
    assert "Uploads" not in moto.client().list_multipart_uploads(Bucket=storage.bucket)


def test_presigned_download_urls_only_when_asked(moto):
    import requests

    plain = S3Storage(moto.options())
    assert plain.download_url("x") is None
    redirecting = S3Storage(moto.options(redirect_downloads=True, redirect_seconds=60))
    put(redirecting, "blobs/x", b"direct")
    url = redirecting.download_url("blobs/x")
    assert "X-Amz-Expires=60" in url
    assert requests.get(url, timeout=10).content == b"direct"


def test_an_unreachable_store_raises_storage_unavailable():
    storage = S3Storage({"endpoint_url": f"http://127.0.0.1:{free_port()}", "bucket": "b",
                         "access_key_id": "x", "secret_access_key": "y"})
    with pytest.raises(StorageUnavailable, match="object store"):
        put(storage, "a", b"x")
    with pytest.raises(StorageUnavailable):
        storage.stat("a")


def test_a_store_answering_500_raises_storage_unavailable():
    with failing_store() as endpoint:
        storage = S3Storage({"endpoint_url": endpoint, "bucket": "b", "access_key_id": "x",
                             "secret_access_key": "y"})
        with pytest.raises(StorageUnavailable, match="object store"):
            put(storage, "a", b"x")
        with pytest.raises(StorageUnavailable):
            storage.reader("a")


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="unknown .storage. keys for the s3 backend: bukket"):
        S3Storage({"bukket": "x", "bucket": "y"})
