"""What counts as a download of an npm tarball: the one rule of every format
(`packages.counts_as_download`), asked through npm's tarball route."""
from __future__ import annotations

import json

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.models import Package
from appliance.settings import store_setting
from tests.unit.formats.npm.test_tags_and_etags import publish

TARBALL = "/@alice%2fpkg/-/pkg-1.0.0.tgz"


@pytest.fixture
def fetch(app, client):
    store_setting("hostname", "appliance.test")
    alice = create_user("alice")
    create_repository(alice, "pkg")
    headers = {"Host": "npm.appliance.test",
               "Authorization": f"Bearer {issue_token(alice, ['read:packages', 'write:packages'])[1]}"}
    response = client.put("/@alice%2fpkg", data=json.dumps(publish("1.0.0")), content_type="application/json",
                          headers=headers)
    assert response.status_code == 201, response.json

    def call(method: str, range_header: str | None):
        extra = {"Range": range_header} if range_header else {}
        return client.open(TARBALL, method=method, headers={**headers, **extra})

    return call


def downloads() -> int:
    return service.download_total(Package.get(Package.name == "@alice/pkg"))


@pytest.mark.parametrize(("method", "range_header", "counted"), [
    ("GET", None, 1),
    ("GET", "bytes=0-", 1),
    ("GET", "bytes=0-1", 1),
    ("GET", "bytes=2-", 0),  # resuming a download already counted
    ("HEAD", None, 0),
    ("HEAD", "bytes=0-", 0),  # npm counted this one: a HEAD fetches nothing
])
def test_what_counts_as_a_download(fetch, method, range_header, counted):
    response = fetch(method, range_header)
    assert response.status_code in (200, 206), response.data
    assert downloads() == counted


@pytest.mark.parametrize(("method", "range_start", "counted"), [
    ("GET", None, True), ("GET", 0, True), ("GET", 1, False), ("HEAD", None, False), ("HEAD", 0, False),
    ("POST", None, False),
])
def test_the_rule(method, range_start, counted):
    assert service.counts_as_download(method, range_start) is counted
