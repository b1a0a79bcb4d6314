"""LocalStorage against the storage contract of appliance/storage/base.py."""
from __future__ import annotations

import pytest

from appliance.storage.base import InvalidPath, PathNotFound
from appliance.storage.local import LocalStorage


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "root")


def files_under(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def put(storage, path: str, data: bytes) -> None:
    writer = storage.writer(path)
    writer.write(data)
    writer.commit()


def test_writer_commit_makes_the_bytes_readable(storage):
    writer = storage.writer("a/b/c.bin")
    writer.write(b"hello ")
    writer.write(b"world")
    assert writer.size == 11
    writer.commit()
    writer.commit()  # a second commit is harmless

    assert storage.stat("a/b/c.bin") == 11
    with storage.reader("a/b/c.bin") as f:
        assert f.read() == b"hello world"
    assert files_under(storage.root) == ["a/b/c.bin"]


def test_writer_replaces_what_was_at_the_path(storage):
    put(storage, "x", b"old content")
    put(storage, "x", b"new")
    assert storage.stat("x") == 3
    with storage.reader("x") as f:
        assert f.read() == b"new"


def test_cancel_leaves_nothing_behind(storage):
    writer = storage.writer("uploads/u1")
    writer.write(b"partial")
    writer.cancel()

    assert storage.stat("uploads/u1") is None
    assert files_under(storage.root) == []


def test_appending_writer_continues_where_the_last_one_stopped(storage):
    put(storage, "uploads/u1", b"hello")
    writer = storage.writer("uploads/u1", append=True)
    assert writer.size == 5  # what was already there counts
    writer.write(b", world")
    assert writer.size == 12
    writer.commit()

    with storage.reader("uploads/u1") as f:
        assert f.read() == b"hello, world"


def test_appending_to_a_missing_path_starts_it(storage):
    writer = storage.writer("uploads/new", append=True)
    assert writer.size == 0
    writer.write(b"abc")
    writer.commit()
    assert storage.stat("uploads/new") == 3


def test_reader_at_an_offset(storage):
    put(storage, "f", bytes(range(256)))
    with storage.reader("f", 200) as f:
        assert f.read() == bytes(range(200, 256))
    with storage.reader("f", 256) as f:
        assert f.read() == b""
    with storage.reader("f", 0) as f:
        assert f.read(3) == b"\x00\x01\x02"


def test_reader_of_a_missing_path_raises_path_not_found(storage):
    with pytest.raises(PathNotFound) as raised:
        storage.reader("no/such/file")
    assert raised.value.path == "no/such/file"
    assert "no/such/file" in str(raised.value)


def test_stat(storage):
    assert storage.stat("missing") is None
    put(storage, "empty", b"")
    assert storage.stat("empty") == 0
    put(storage, "three", b"abc")
    assert storage.stat("three") == 3


def test_move_puts_the_source_at_the_destination(storage):
    put(storage, "uploads/u1", b"content")
    storage.move("uploads/u1", "blobs/sha256/ab/abcd")

    assert storage.stat("uploads/u1") is None
    with storage.reader("blobs/sha256/ab/abcd") as f:
        assert f.read() == b"content"


def test_move_replaces_the_destination(storage):
    put(storage, "src", b"new")
    put(storage, "dst", b"old old old")
    storage.move("src", "dst")
    with storage.reader("dst") as f:
        assert f.read() == b"new"
    assert files_under(storage.root) == ["dst"]


def test_move_of_a_missing_source_raises_path_not_found(storage):
    with pytest.raises(PathNotFound):
        storage.move("missing", "dst")
    assert storage.stat("dst") is None


def test_delete(storage):
    put(storage, "d/f", b"x")
    storage.delete("d/f")
    assert storage.stat("d/f") is None
    storage.delete("d/f")  # deleting what is not there is not an error
    assert files_under(storage.root) == []


BAD_PATHS = [
    "",
    "..",
    "../outside",
    "a/../../outside",
    "a/..",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "/etc/passwd",
    "/",
    "a\\b",
    "..\\outside",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_paths_that_could_climb_out_are_refused_by_every_operation(storage, tmp_path, path):
    put(storage, "ok", b"fine")
    operations = [
        lambda: storage.writer(path),
        lambda: storage.writer(path, append=True),
        lambda: storage.reader(path),
        lambda: storage.stat(path),
        lambda: storage.move("ok", path),
        lambda: storage.move(path, "ok2"),
        lambda: storage.delete(path),
    ]
    for operation in operations:
        with pytest.raises(InvalidPath, match="invalid storage path"):
            operation()
    # Nothing was written, moved or removed anywhere.
    assert files_under(tmp_path) == ["root/ok"]


def test_list_walks_everything_under_a_prefix_with_size_and_time(storage, tmp_path):
    import datetime as dt
    import os

    put(storage, "uploads/a", b"12345")
    put(storage, "uploads/sessions/b", b"")
    put(storage, "blobs/sha256/ab/abc", b"x")
    os.utime(tmp_path / "root" / "uploads" / "a", (0, 86400))

    listed = {o.path: o for o in storage.list("uploads")}
    assert sorted(listed) == ["uploads/a", "uploads/sessions/b"]
    assert listed["uploads/a"].size == 5
    assert listed["uploads/a"].modified_at == dt.datetime(1970, 1, 2)
    assert [o.path for o in storage.list("blobs")] == ["blobs/sha256/ab/abc"]
    assert list(storage.list("nothing-here")) == []
