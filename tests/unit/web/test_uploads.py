"""Request bodies read with a limit and held in one kind of spool (web/uploads.py)."""
from __future__ import annotations

import io

import pytest

from appliance.packages import UploadTooLarge
from appliance.web import uploads
from appliance.web.uploads import limited_body, spool, spooled_body


def chunked(app, body: bytes):
    """A request without Content-Length, as a chunked upload arrives."""
    return app.test_request_context("/upload", method="PUT", input_stream=io.BytesIO(body),
                                    headers={"Transfer-Encoding": "chunked"},
                                    environ_overrides={"wsgi.input_terminated": True})


def test_a_declared_length_over_the_limit_is_refused_before_reading(app):
    with app.test_request_context("/upload", method="PUT", data=b"x" * 11), \
            pytest.raises(UploadTooLarge, match="the gem is 11 bytes; this appliance accepts up to 10"):
        limited_body(10, "the gem")


def test_a_chunked_body_is_cut_off_past_the_limit(app):
    with chunked(app, b"x" * 11):
        body = limited_body(10, "the package")
        assert body.read(4) == b"xxxx"
        with pytest.raises(UploadTooLarge, match="the package is larger than this appliance accepts"):
            body.read()
    with chunked(app, b"x" * 10):
        assert limited_body(10).read() == b"x" * 10


def test_the_spool_holds_small_uploads_in_memory_and_spills_large_ones(monkeypatch):
    monkeypatch.setattr(uploads, "SPOOL_BYTES", 8)
    with spool() as small:
        small.write(b"1234")
        assert not small._rolled
    with spool() as large:
        large.write(b"123456789")
        assert large._rolled


def test_a_spooled_body_is_read_whole_and_rewound(app):
    with app.test_request_context("/upload", method="PUT", data=b"gem bytes"), \
            spooled_body(100, "the gem") as sink:
        assert sink.read() == b"gem bytes"
    with app.test_request_context("/upload", method="PUT", data=b"x" * 101), \
            pytest.raises(UploadTooLarge), spooled_body(100, "the gem"):
        pass
