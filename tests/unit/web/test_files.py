"""The one way a stored file is sent (web/files.py): the whole file, a range, a revalidation, HEAD, caching
headers, the name it is saved under, and which requests count as downloads."""
from __future__ import annotations

import datetime as dt

import pytest
from flask import request

from appliance.accounts.service import create_repository, create_user
from appliance.models.billing import OwnerTransfer
from appliance.packages import blob_store
from appliance.packages.blobs import blob_row
from appliance.settings import store_setting
from appliance.web.files import record_if_download, send_blob

CONTENT = b"0123456789" * 10
MODIFIED = dt.datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture
def blob(app):
    with app.test_request_context():
        return blob_row(blob_store().ingest([CONTENT]))


@pytest.fixture
def repository(app):
    """The private repository whose file is sent (metered as transfer only in the cloud edition)."""
    with app.app_context():
        return create_repository(create_user("alice"), "libs", "private")


@pytest.fixture
def client(app, blob, repository):
    """A route that sends `blob`, answered as a server answers it (a 304 or HEAD loses its body there)."""
    app.add_url_rule("/file", "file", methods=["GET", "HEAD"], view_func=lambda: send_blob(
        blob, content_type="application/octet-stream", last_modified=MODIFIED,
        max_age=request.args.get("max_age", 0, type=int), transfer_of=repository))
    return app.test_client()


def sent(client, method="GET", headers=None, query=""):
    response = client.open(f"/file{query}", method=method, headers=headers or {})
    return response.status_code, response.headers, response.get_data()


def test_the_whole_file_with_its_tag_and_date(client, blob):
    status, headers, body = sent(client)
    assert (status, body) == (200, CONTENT)
    assert headers["ETag"] == f'"{blob.sha256}"'
    assert headers["Content-Length"] == str(len(CONTENT))
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Last-Modified"] == "Fri, 02 Jan 2026 03:04:05 GMT"
    assert "Cache-Control" not in headers


def test_a_range_and_a_revalidation(client, blob):
    status, headers, body = sent(client, headers={"Range": "bytes=5-14"})
    assert (status, body) == (206, CONTENT[5:15])
    assert headers["Content-Range"] == f"bytes 5-14/{len(CONTENT)}"
    status, _, body = sent(client, headers={"If-None-Match": f'"{blob.sha256}"'})
    assert (status, body) == (304, b"")
    status, _, _ = sent(client, headers={"Range": f"bytes={len(CONTENT)}-"})
    assert status == 416


def test_head_sends_no_body_and_public_files_can_be_cached(client):
    status, headers, body = sent(client, method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(CONTENT)))
    _, headers, _ = sent(client, query="?max_age=300")
    assert headers["Cache-Control"] in ("public, max-age=300", "max-age=300, public")


@pytest.mark.parametrize(("method", "range_header", "counted"), [
    ("GET", None, True), ("GET", "bytes=0-3", True), ("GET", "bytes=4-", False), ("HEAD", None, False),
    ("HEAD", "bytes=0-", False),
])
def test_which_requests_count_as_downloads(app, monkeypatch, method, range_header, counted):
    recorded = []
    monkeypatch.setattr("appliance.web.files.record_download", recorded.append)
    with app.test_request_context("/file", method=method, headers={"Range": range_header} if range_header else {}):
        record_if_download("the version")
    assert recorded == (["the version"] if counted else [])


def metered(app) -> int:
    with app.app_context():
        return sum(row.bytes for row in OwnerTransfer.select())


@pytest.mark.parametrize(("method", "range_header", "counted"), [
    ("GET", None, True), ("GET", "bytes=0-3", True), ("GET", "bytes=4-", False), ("HEAD", None, False),
])
def test_transfer_is_metered_by_the_download_rule_in_the_cloud_edition(app, client, method, range_header, counted):
    """A download of a private repository's file adds the file's size to its owner's month; a HEAD or a
    resumed range does not, as they are no download; outside `cloud` nothing is metered at all."""
    headers = {"Range": range_header} if range_header else {}
    client.open("/file", method=method, headers=headers)
    assert metered(app) == 0
    with app.app_context():
        store_setting("edition", "cloud")
    client.open("/file", method=method, headers=headers)
    assert metered(app) == (len(CONTENT) if counted else 0)
