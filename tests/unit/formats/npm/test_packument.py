"""The packument of versions whose tarballs were stored by any path, not only by `npm publish` (which
keeps the sha512 and sha1 npm asks for)."""
from __future__ import annotations

import base64
import hashlib

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user
from appliance.auth.permissions import Actor
from appliance.auth.tokens import issue_token
from appliance.models import Blob
from appliance.packages import FileUpload, VersionDraft
from appliance.settings import store_setting

NAME = "@alice/plain"
TARBALL = b"a tarball stored with its sha256 only"
FULL = "application/json"
ABBREVIATED = "application/vnd.npm.install-v1+json"


@pytest.fixture
def token(app):
    store_setting("subdomain_isolation", False)
    alice = create_user("alice")
    create_repository(alice, "plain")
    token, secret = issue_token(alice, ["read:packages", "write:packages"])
    # Through the service with no digest asked besides the sha256 every blob has: no sha512, no sha1.
    service.publish_version(
        Actor(user=alice, token=token), owner_login="alice", fmt="npm", name=NAME,
        draft=VersionDraft("1.0.0", {"name": NAME, "version": "1.0.0"}),
        uploads=[FileUpload("plain-1.0.0.tgz", [TARBALL])], repository_name="plain",
        default_repository_name="plain", tags=["latest"])
    assert Blob.get().sha512 is None and Blob.get().sha1 is None
    return secret


@pytest.mark.parametrize("accept", [FULL, ABBREVIATED])
def test_a_version_without_a_sha512_has_the_sha256_integrity(client, token, accept):
    response = client.get("/_registry/npm/@alice%2fplain", headers={"Authorization": f"Bearer {token}",
                                                                    "Accept": accept})
    assert response.status_code == 200, response.data
    dist = response.json["versions"]["1.0.0"]["dist"]
    assert dist["integrity"] == "sha256-" + base64.b64encode(hashlib.sha256(TARBALL).digest()).decode()
    assert "shasum" not in dist  # unknown: left out, not null
    assert dist["tarball"].endswith("/@alice/plain/-/plain-1.0.0.tgz")
