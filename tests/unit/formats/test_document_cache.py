"""The documents a worker keeps (formats/document_cache.py): least recently used out first, and ETags keyed
under the appliance's secret so nobody computes them from package ids."""
from __future__ import annotations

import threading

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


def test_tags_depend_on_the_key_and_the_secret(app):
    tag = keyed_tag((1, "2026-01-01T00:00:00"))
    assert len(tag) == 40 and tag == keyed_tag((1, "2026-01-01T00:00:00"))
    assert tag != keyed_tag((2, "2026-01-01T00:00:00"))
    app.config["SECRET_KEY"] = "another secret"
    assert keyed_tag((1, "2026-01-01T00:00:00")) != tag
