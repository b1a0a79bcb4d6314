"""The registries' upload endpoints fed the fuzz inputs over Flask's test client: a parser's refusal
must come out as the client's 4xx, never as an exception (the test app propagates those) or a 500."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting
from tests.fuzz.harness import http_fuzz_settings, inputs, json_values
from tests.fuzz.test_parsers import (
    GEMSPEC,
    INDEX,
    JSON_TOKENS,
    MANIFEST,
    MODULE,
    NPM_TOKENS,
    POM,
    XML_TOKENS,
    YAML_TOKENS,
)
from tests.support.nuget import multipart, nupkg_bytes, nuspec_xml
from tests.support.rubygems import gem_members, tar_of
from tests.unit.formats.npm.test_metadata import publish_document

HOSTNAME = "appliance.test"
NPM_BODY = json.dumps(publish_document(b"tarball", name="@alice/pkg")).replace(
    "octo-org/hello-world", "alice/pkg").encode()
NUPKG = nupkg_bytes("Widgets", "1.0.0", nuspec=nuspec_xml("Widgets", "1.0.0"))


@pytest.fixture
def send(app, client):
    store_setting("hostname", HOSTNAME)
    store_setting("subdomain_isolation", True)
    alice = create_user("alice")
    for name in ("pkg", "demo", "widgets", "libs"):
        create_repository(alice, name)
    token = issue_token(alice, ["read:packages", "write:packages", "delete:packages", "repo"])[1]

    def call(fmt: str, method: str, path: str, body: bytes, **headers):
        response = client.open(path, method=method, data=body, headers={
            "Host": f"{fmt}.{HOSTNAME}", "Authorization": f"Bearer {token}", **headers})
        assert response.status_code < 500, response.get_data(as_text=True)
        return response

    return call


@http_fuzz_settings
@given(body=inputs(NPM_BODY, NPM_TOKENS))
def test_npm_publish(send, body):
    send("npm", "PUT", "/@alice%2fpkg", body, **{"Content-Type": "application/json"})


@http_fuzz_settings
@given(versions=json_values, tags=json_values)
def test_npm_packument_updates(send, versions, tags):
    send("npm", "PUT", "/@alice%2fpkg", NPM_BODY, **{"Content-Type": "application/json"})
    document = {"_id": "@alice/pkg", "name": "@alice/pkg", "versions": versions, "dist-tags": tags}
    send("npm", "PUT", "/@alice%2fpkg/-rev/1", json.dumps(document).encode(), **{"Content-Type": "application/json"})


@http_fuzz_settings
@given(tag=st.text(max_size=40).filter(lambda t: "/" not in t and "?" not in t and "#" not in t),
       body=inputs(b'"1.0.0"', JSON_TOKENS))
def test_npm_dist_tag_add(send, tag, body):
    send("npm", "PUT", "/-/package/@alice%2fpkg/dist-tags/x" + tag, body, **{"Content-Type": "application/json"})


@http_fuzz_settings
@given(text=inputs(GEMSPEC, YAML_TOKENS))
def test_rubygems_push(send, text):
    send("rubygems", "POST", "/alice/api/v1/gems", tar_of(gem_members(text.decode("latin-1"))))


@http_fuzz_settings
@given(data=inputs(NUPKG, XML_TOKENS))
def test_nuget_push(send, data):
    body, content_type = multipart(data)
    send("nuget", "PUT", "/alice/api/v2/package", body, **{"Content-Type": content_type})


@http_fuzz_settings
@given(pom=inputs(POM, XML_TOKENS), module=inputs(MODULE, JSON_TOKENS))
def test_maven_deploy(send, pom, module):
    send("maven", "PUT", "/alice/libs/com/example/lib/1.0/lib-1.0.pom", pom)
    send("maven", "PUT", "/alice/libs/com/example/lib/1.0/lib-1.0.module", module)


@http_fuzz_settings
@given(body=st.one_of(inputs(MANIFEST, JSON_TOKENS), inputs(INDEX, JSON_TOKENS)),
       media_type=st.sampled_from(["application/vnd.oci.image.manifest.v1+json",
                                   "application/vnd.docker.distribution.manifest.list.v2+json", "", "x/\xe9"]))
def test_docker_manifest_push(send, body, media_type):
    send("docker", "PUT", "/v2/alice/libs/app/manifests/v1", body, **{"Content-Type": media_type})
