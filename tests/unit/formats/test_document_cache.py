"""The documents a worker keeps (formats/document_cache.py): least recently used out first, and ETags keyed
under the appliance's secret so nobody computes them from package ids."""
from __future__ import annotations

import threading
import time

from appliance.formats.document_cache import DocumentCache, keyed_tag


def test_the_least_recently_used_document_goes_first():
    cache = DocumentCache(size=2)
    cache.put(("a",), b"A")
    cache.put(("b",), b"B")
    assert cache.get(("a",)) == b"A"  # now the most recent
    cache.put(("c",), b"C")
    assert cache.get(("b",)) is None
    assert (cache.get(("a",)), cache.get(("c",))) == (b"A", b"C")


def test_putting_a_key_again_replaces_its_document():
    cache = DocumentCache(size=2)
    cache.put(("a",), b"old")
    cache.put(("a",), b"new")
    cache.put(("b",), b"B")
    assert cache.get(("a",)) == b"new" and cache.get(("b",)) == b"B"


def test_threads_share_one_cache_without_going_past_its_size():
    cache = DocumentCache(size=50)

    def fill(offset: int):
        for i in range(200):
            cache.put((offset, i), i)
            cache.get((offset, i // 2))

    threads = [threading.Thread(target=fill, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache._entries) == 50


def test_threads_asking_for_a_missing_document_at_once_build_it_once():
    # bench_web saw the 1,000-version packument stall for ~3 s at p95: the threads of a cold worker each
    # built it at once under the GIL.
    cache = DocumentCache()
    builds = []
    started = threading.Event()
    release = threading.Event()

    def build():
        builds.append(threading.get_ident())
        started.set()
        release.wait(5)
        return b"document"

    answers = []
    first = threading.Thread(target=lambda: answers.append(cache.get_or_build(("k",), build)))
    first.start()
    assert started.wait(5)
    others = [threading.Thread(target=lambda: answers.append(cache.get_or_build(("k",), build))) for _ in range(7)]
    for thread in others:
        thread.start()
    # Without one builder each of them would be in build() within this time.
    deadline = time.monotonic() + 0.5
    while len(builds) == 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert answers == [b"document"] * 8 and len(builds) == 1
    assert cache._building == {}


def test_a_build_that_fails_leaves_the_next_caller_to_build_it():
    cache = DocumentCache()

    def failing():
        raise RuntimeError("the database went away")

    try:
        cache.get_or_build(("k",), failing)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the builder's error was swallowed")
    assert cache.get_or_build(("k",), lambda: b"built") == b"built" and cache._building == {}
    assert cache.get_or_build(("k",), failing) == b"built"  # kept: no second build


def test_tags_depend_on_the_key_and_the_secret(app):
    tag = keyed_tag((1, "2026-01-01T00:00:00"))
    assert len(tag) == 40 and tag == keyed_tag((1, "2026-01-01T00:00:00"))
    assert tag != keyed_tag((2, "2026-01-01T00:00:00"))
    app.config["SECRET_KEY"] = "another secret"
    assert keyed_tag((1, "2026-01-01T00:00:00")) != tag
