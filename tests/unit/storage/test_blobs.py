"""BlobStore.ingest: streaming, hashing, verification, limits and dedup, leaving nothing on failure."""
from __future__ import annotations

import hashlib
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.storage.blobs import BlobDigestMismatch, BlobStore, BlobTooLarge, blob_path
from appliance.storage.local import LocalStorage

MiB = 1024 * 1024


@pytest.fixture
def root(tmp_path):
    return tmp_path / "storage"


@pytest.fixture
def store(root):
    return BlobStore(LocalStorage(root))


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_ingest_keeps_the_bytes_under_their_sha256(store, root):
    data = b"hello, blobs"
    stored = store.ingest([data[:5], data[5:]])

    assert stored.sha256 == sha256(data)
    assert stored.size == len(data)
    assert stored.digests == {"sha256": sha256(data)}
    assert stored.newly_stored is True
    assert files_under(root) == [blob_path(stored.sha256)]
    assert blob_path(stored.sha256) == f"blobs/sha256/{stored.sha256[:2]}/{stored.sha256}"
    assert store.exists(stored.sha256)
    with store.open(stored.sha256) as f:
        assert f.read() == data
    with store.open(stored.sha256, offset=7) as f:
        assert f.read() == b"blobs"


def test_ingest_of_nothing_stores_the_empty_blob(store, root):
    stored = store.ingest([])
    assert (stored.sha256, stored.size) == (sha256(b""), 0)
    assert files_under(root) == [blob_path(sha256(b""))]


def test_ingest_computes_the_extra_digests_asked_for(store):
    data = b"x" * 100_000
    stored = store.ingest([data], algorithms=("sha1", "sha512", "md5"))
    assert stored.digests == {
        "sha256": sha256(data),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


def test_ingest_accepts_matching_expected_digests_in_any_case(store):
    data = b"checked content"
    expected = {"sha1": hashlib.sha1(data).hexdigest().upper(), "sha512": hashlib.sha512(data).hexdigest()}
    stored = store.ingest([data], expected=expected)
    # An expected algorithm is computed even when not asked for separately.
    assert stored.digests["sha1"] == hashlib.sha1(data).hexdigest()
    assert stored.digests["sha512"] == hashlib.sha512(data).hexdigest()
    assert store.exists(stored.sha256)


def test_ingest_streams_without_holding_the_content_in_memory(store):
    chunks = 64

    def generate():
        for i in range(chunks):
            yield bytes([i]) * MiB  # a fresh 1 MiB each time, freed once written

    digest = hashlib.sha256()
    for i in range(chunks):
        digest.update(bytes([i]) * MiB)

    tracemalloc.start()
    try:
        stored = store.ingest(generate(), algorithms=("sha1", "sha512", "md5"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored.size == chunks * MiB
    assert stored.sha256 == digest.hexdigest()
    assert peak < 8 * MiB, f"ingest held {peak / MiB:.1f} MiB at its peak"
    assert store.storage.stat(blob_path(stored.sha256)) == chunks * MiB


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "sha512", "md5"])
def test_a_digest_mismatch_raises_and_leaves_no_file(store, root, algorithm):
    data = b"what was really sent"
    claimed = hashlib.new(algorithm, b"what the client said it sent").hexdigest()

    with pytest.raises(BlobDigestMismatch) as raised:
        store.ingest([data], expected={algorithm: claimed})

    error = raised.value
    assert (error.algorithm, error.expected, error.actual) == (algorithm, claimed,
                                                               hashlib.new(algorithm, data).hexdigest())
    assert claimed in str(error) and algorithm in str(error)
    assert files_under(root) == []


def test_max_size_refuses_a_larger_upload_and_leaves_no_file(store, root):
    with pytest.raises(BlobTooLarge) as raised:
        store.ingest([b"a" * 600, b"b" * 600], max_size=1000)
    assert raised.value.limit == 1000
    assert "1000 bytes" in str(raised.value)
    assert files_under(root) == []


def test_max_size_stops_reading_at_the_limit(store):
    read = []

    def generate():
        for i in range(1000):
            read.append(i)
            yield b"z" * 1024

    with pytest.raises(BlobTooLarge):
        store.ingest(generate(), max_size=10 * 1024)
    assert len(read) == 11  # it gave up on the first chunk past the limit


def test_an_upload_of_exactly_max_size_is_accepted(store):
    stored = store.ingest([b"a" * 500, b"b" * 500], max_size=1000)
    assert stored.size == 1000


def test_identical_content_is_stored_once(store, root):
    first = store.ingest([b"same bytes"])
    second = store.ingest([b"same ", b"bytes"], algorithms=("sha1",))

    assert first.newly_stored is True
    assert second.newly_stored is False
    assert second.sha256 == first.sha256 and second.size == first.size
    assert second.digests["sha1"] == hashlib.sha1(b"same bytes").hexdigest()
    assert files_under(root) == [blob_path(first.sha256)]


def test_a_failure_mid_stream_leaves_nothing(store, root):
    def generate():
        yield b"a" * MiB
        yield b"b" * MiB
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        store.ingest(generate())
    assert files_under(root) == []


def test_a_failure_mid_stream_keeps_an_existing_identical_blob(store, root):
    kept = store.ingest([b"a" * 10])

    def generate():
        yield b"a" * 10
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        store.ingest(generate())
    assert files_under(root) == [blob_path(kept.sha256)]
    with store.open(kept.sha256) as f:
        assert f.read() == b"a" * 10


def test_two_threads_ingesting_the_same_content_end_with_one_intact_blob(store, root):
    data = [bytes([i]) * (256 * 1024) for i in range(8)]
    expected = sha256(b"".join(data))
    both_streaming = threading.Barrier(2, timeout=10)

    def generate():
        yield data[0]
        both_streaming.wait()  # both uploads are in flight before either finishes
        yield from data[1:]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: store.ingest(generate()), range(2)))

    assert [r.sha256 for r in results] == [expected, expected]
    assert any(r.newly_stored for r in results)
    assert files_under(root) == [blob_path(expected)]
    with store.open(expected) as f:
        assert sha256(f.read()) == expected


def test_delete(store, root):
    stored = store.ingest([b"to be removed"])
    store.delete(stored.sha256)
    assert not store.exists(stored.sha256)
    assert files_under(root) == []


# ---- adopt: a finished upload moved into place ----------------------------------------------------------


def staged_upload(store, data: bytes, path: str = "uploads/sessions/one") -> str:
    writer = store.storage.writer(path)
    writer.write(data)
    writer.commit()
    return path


@pytest.mark.parametrize("hashed", [True, False])
def test_adopt_moves_a_verified_upload_under_its_sha256(store, root, hashed):
    data = b"layer bytes" * 1000
    path = staged_upload(store, data)
    stored = store.adopt(path, {"sha256": sha256(data)}, hashed=(sha256(data), len(data)) if hashed else None)
    assert (stored.sha256, stored.size, stored.newly_stored) == (sha256(data), len(data), True)
    assert files_under(root) == [blob_path(sha256(data))]


def test_adopt_of_content_the_store_has_drops_the_upload(store, root):
    data = b"same"
    store.ingest([data])
    stored = store.adopt(staged_upload(store, data), {"sha256": sha256(data)})
    assert not stored.newly_stored
    assert files_under(root) == [blob_path(sha256(data))]


@pytest.mark.parametrize("hashed", [True, False])
def test_adopt_of_an_upload_that_is_not_the_digest_removes_it(store, root, hashed):
    data = b"what was sent"
    path = staged_upload(store, data)
    with pytest.raises(BlobDigestMismatch):
        store.adopt(path, {"sha256": sha256(b"what was claimed")}, hashed=(sha256(data), len(data)) if hashed else None)
    assert files_under(root) == []


def test_adopt_by_a_sha512_reads_the_upload_and_keeps_both_digests(store, root):
    data = b"layer bytes" * 1000
    sha512 = hashlib.sha512(data).hexdigest()
    # What streamed in was hashed with sha256 only: a sha512 claim is checked by reading the upload again.
    stored = store.adopt(staged_upload(store, data), {"sha512": sha512}, hashed=(sha256(data), len(data)))
    assert stored.digests == {"sha256": sha256(data), "sha512": sha512}
    assert files_under(root) == [blob_path(sha256(data))]
    with pytest.raises(BlobDigestMismatch) as raised:
        store.adopt(staged_upload(store, b"other"), {"sha512": sha512})
    assert raised.value.algorithm == "sha512"
    assert files_under(root) == [blob_path(sha256(data))]
