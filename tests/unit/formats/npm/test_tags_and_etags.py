"""One dist-tag rule on every path that sets a tag (publish, `npm dist-tag add`, a packument sent back
to `PUT /@scope%2fpkg/-rev/N`), and packument ETags and revisions nobody can compute from internals."""
from __future__ import annotations

import hashlib
import json

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.formats.npm.metadata import MAX_TAGS_PER_REQUEST
from appliance.models import Package
from appliance.settings import store_setting
from tests.unit.formats.npm.test_metadata import publish_document

NAME = "@alice/pkg"
BAD_TAGS = ["3.0.0", "v1.2.3", "1", "1.x", "2.0.0-rc.1", "", "x\ny", "t" * 5000, "-next", ".hidden", "a b", "é"]


@pytest.fixture
def npm(app, client):
    store_setting("hostname", "appliance.test")
    alice = create_user("alice")
    create_repository(alice, "pkg")
    token = issue_token(alice, ["read:packages", "write:packages", "delete:packages", "repo"])[1]

    def call(method: str, path: str, body=None):
        data = body if isinstance(body, bytes | type(None)) else json.dumps(body).encode()
        return client.open(path, method=method, data=data, content_type="application/json",
                           headers={"Host": "npm.appliance.test", "Authorization": f"Bearer {token}"})

    for version in ("1.0.0", "2.0.0"):
        response = call("PUT", "/@alice%2fpkg", publish(version))
        assert response.status_code == 201, response.json
    return call


def publish(version: str, tag: str = "latest") -> dict:
    document = publish_document(version.encode(), name=NAME, version=version, tag=tag)
    document["versions"][version]["repository"] = "alice/pkg"
    return document


def stored_tags() -> dict[str, str]:
    return service.package_tags(Package.get(Package.name == NAME))


@pytest.mark.parametrize("tag", BAD_TAGS)
def test_a_packument_sent_back_cannot_store_a_bad_tag(npm, tag):
    """The review's bypass: the tags of a packument update were taken as they came."""
    packument = npm("GET", "/@alice%2fpkg?write=true").json
    packument["dist-tags"] = {**packument["dist-tags"], tag: "1.0.0"}
    response = npm("PUT", f"/@alice%2fpkg/-rev/{packument['_rev']}", packument)
    assert response.status_code == 400, response.json
    assert stored_tags() == {"latest": "2.0.0"}


def test_a_packument_sent_back_still_moves_a_good_tag(npm):
    packument = npm("GET", "/@alice%2fpkg?write=true").json
    packument["dist-tags"]["next"] = "1.0.0"
    assert npm("PUT", f"/@alice%2fpkg/-rev/{packument['_rev']}", packument).status_code == 201
    assert stored_tags() == {"latest": "2.0.0", "next": "1.0.0"}


def test_a_packument_sent_back_sets_a_bounded_number_of_tags(npm):
    """Each tag is a write with its audit entry and webhook deliveries: thousands in one request kept
    a worker busy for minutes."""
    packument = npm("GET", "/@alice%2fpkg?write=true").json
    packument["dist-tags"].update({f"t{n}": "1.0.0" for n in range(MAX_TAGS_PER_REQUEST + 1)})
    response = npm("PUT", f"/@alice%2fpkg/-rev/{packument['_rev']}", packument)
    assert response.status_code == 400
    assert "npm dist-tag add" in response.json["error"]
    assert stored_tags() == {"latest": "2.0.0"}
    packument["dist-tags"].pop(f"t{MAX_TAGS_PER_REQUEST}")
    assert npm("PUT", f"/@alice%2fpkg/-rev/{packument['_rev']}", packument).status_code == 201
    assert len(stored_tags()) == MAX_TAGS_PER_REQUEST + 1


def test_a_publish_sets_a_bounded_number_of_tags(npm):
    document = publish("3.0.0")
    document["dist-tags"].update({f"t{n}": "3.0.0" for n in range(MAX_TAGS_PER_REQUEST)})
    response = npm("PUT", "/@alice%2fpkg", document)
    assert response.status_code == 400, response.json
    assert stored_tags() == {"latest": "2.0.0"}


@pytest.mark.parametrize("tag", [t for t in BAD_TAGS if t and "/" not in t and "\n" not in t])
def test_dist_tag_add_refuses_a_bad_tag(npm, tag):
    response = npm("PUT", f"/-/package/@alice%2fpkg/dist-tags/{tag}", "1.0.0")
    assert response.status_code == 400, response.json
    assert stored_tags() == {"latest": "2.0.0"}


@pytest.mark.parametrize("tag", BAD_TAGS)
def test_publish_refuses_a_bad_tag(npm, tag):
    response = npm("PUT", "/@alice%2fpkg", publish("3.0.0", tag))
    assert response.status_code == 400, response.json
    assert stored_tags() == {"latest": "2.0.0"}


def test_packument_etags_and_revisions_are_not_hashes_of_internals(npm):
    package = Package.get(Package.name == NAME)
    response = npm("GET", "/@alice%2fpkg")
    stamp = package.updated_at.isoformat()
    guessable = {hashlib.sha1(repr((package.id, stamp, abbreviated, "http://npm.appliance.test/")).encode())
                 .hexdigest() for abbreviated in (False, True)}
    assert response.get_etag()[0] not in guessable
    assert response.json["_rev"] != f"1-{hashlib.sha1(f'{package.id}:{stamp}'.encode()).hexdigest()}"
    # still a validator: the same document revalidates, a changed one does not
    again = npm("GET", "/@alice%2fpkg")
    assert again.get_etag()[0] == response.get_etag()[0]
    assert npm("PUT", "/-/package/@alice%2fpkg/dist-tags/next", "1.0.0").status_code == 201
    assert npm("GET", "/@alice%2fpkg").get_etag()[0] != response.get_etag()[0]
