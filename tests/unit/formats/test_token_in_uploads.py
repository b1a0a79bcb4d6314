"""A pushed package holding a token of this appliance (apt_...) is refused by every registry, in the
shape its client prints, naming the file inside the package and the token to revoke, and nothing is
stored. NuGet's and Docker's own cases are in their blueprint tests; these are npm, RubyGems and Maven."""
from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest

from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting
from tests.support.maven_http import basic, footprint, pom_bytes
from tests.support.rubygems import gem_members, gemspec_yaml, tar_of
from tests.unit.formats.npm.test_metadata import make_tarball, publish_document

HOSTNAME = "appliance.test"
SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]


@pytest.fixture
def alice(app, client, bootstrap):
    """alice, her repository alice/demo and a token that has leaked into what she pushes."""
    store_setting("hostname", HOSTNAME)
    store_setting("subdomain_isolation", True)
    user = create_user("alice")
    create_repository(user, "demo")
    issued, token = issue_token(user, SCOPES)
    empty = footprint(bootstrap.storage_path)
    yield token, issued.id

    assert footprint(bootstrap.storage_path) == empty  # nothing published, no blob left behind


def leaked_config(token: str) -> bytes:
    return f"registry=http://npm.{HOSTNAME}/\n//npm.{HOSTNAME}/:_authToken={token}\n".encode()


def test_npm_publish(client, alice):
    token, token_id = alice
    tarball = make_tarball({"name": "@alice/demo", "version": "1.0.0"},
                           {"package/lib/settings.js": b"module.exports = " + json.dumps(token).encode()})
    document = publish_document(tarball, name="@alice/demo")
    document["versions"]["1.0.0"]["repository"] = "alice/demo"
    response = client.put("/@alice%2fdemo", data=json.dumps(document), content_type="application/json",
                          headers={"Host": f"npm.{HOSTNAME}", "Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    error = response.json["error"]  # the line npm prints
    assert "demo-1.0.0.tgz: package/lib/settings.js holds a token of this appliance" in error
    assert f"appliance tokens revoke {token_id}" in error


def test_gem_push(client, alice):
    token, token_id = alice
    members = gem_members(gemspec_yaml("demo", "1.0", metadata={"github_repo": "alice/demo"}))
    members["data.tar.gz"] = gzip.compress(tar_of({"lib/demo.rb": b"module Demo; end\n",
                                                    "config/credentials.txt": leaked_config(token)}))
    members.pop("checksums.yaml.gz")
    response = client.post("/alice/api/v1/gems", data=tar_of(members),
                           headers={"Host": f"rubygems.{HOSTNAME}", "Authorization": token})
    assert response.status_code == 422
    message = response.get_data(as_text=True)  # gem push prints the body
    assert "data.tar.gz: config/credentials.txt holds a token of this appliance" in message
    assert f"appliance tokens revoke {token_id}" in message


def test_maven_deploy(client, alice):
    token, token_id = alice
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("application.properties", b"registry.token=" + token.encode() + b"\n")
    base = "/alice/demo/com/example/widget/1.0"
    headers = {"Host": f"maven.{HOSTNAME}", **basic("alice", token)}
    response = client.put(f"{base}/widget-1.0.jar", data=jar.getvalue(), headers=headers)
    assert response.status_code == 400
    reason = response.status.split(" ", 1)[1]  # mvn prints the reason phrase
    assert "widget-1.0.jar: application.properties holds a token of this appliance" in reason
    assert f"appliance tokens revoke {token_id}" in reason
    # a token in the pom itself, as text, is found too
    pom = pom_bytes("com.example", "widget", "1.0", description=f"token {token}")
    response = client.put(f"{base}/widget-1.0.pom", data=pom, headers=headers)
    assert response.status_code == 400
    assert "widget-1.0.pom holds a token of this appliance" in response.status
