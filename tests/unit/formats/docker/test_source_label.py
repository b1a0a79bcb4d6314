"""The org.opencontainers.image.source label (of the image config, or the manifest's annotation) naming
the image's repository, as DESIGN.md allows: when it names another repository of the owner that the
pusher can see, the push is refused saying which name links it there; a label naming a repository
elsewhere links nothing here."""
from __future__ import annotations

import json

import pytest

from appliance.accounts.service import create_repository, create_user, find_repository, get_user, grant
from appliance.auth.tokens import issue_token
from tests.support.oci import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, random_bytes
from tests.unit.formats.docker.conftest import FULL_SCOPES, basic, error_code


def labelled_image(source: str | None, *, annotation: bool = False) -> tuple[bytes, list[bytes]]:
    layer = random_bytes(100)
    labels = {"org.opencontainers.image.source": source} if source and not annotation else {}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                "layers": [descriptor(OCI_LAYER, layer)]}
    if source and annotation:
        document["annotations"] = {"org.opencontainers.image.source": source}
    return json.dumps(document).encode(), [config, layer]


def push(registry, source: str | None, **kwargs):
    manifest, blobs = labelled_image(source, **kwargs)
    for blob in blobs:
        assert registry.push_blob(blob).status_code == 201
    return registry.put_manifest("v1", manifest, OCI_MANIFEST)


@pytest.mark.parametrize("source", [
    None,
    "https://appliance.test/alice/libs",          # the image's own repository
    "https://github.com/alice/libs.git",          # the same name on another host
    "https://github.com/upstream/project",        # a mirrored image's upstream
    "https://github.com/alice/not-here",          # no such repository here
    "not a url at all",
])
def test_a_label_that_names_the_images_repository_or_none_here_is_accepted(registry, source):
    response = push(registry, source)
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize("annotation", [False, True])
def test_a_label_naming_another_repository_of_the_owner_is_refused_saying_how_to_link_it(registry, annotation):
    before = registry.rows()[:3]
    response = push(registry, "https://appliance.test/alice/other", annotation=annotation)
    assert response.status_code == 403 and error_code(response) == "DENIED"
    message = response.get_json()["errors"][0]["message"]
    assert "names the repository alice/other" in message
    assert "push it as docker.appliance.test/alice/other/app" in message
    assert registry.rows()[:3] == before  # no package, version or file


def test_a_label_naming_a_repository_the_pusher_cannot_see_is_not_revealed(registry):
    # bob may write to alice/libs but cannot see alice's private alice/secret: for him the label names
    # nothing here, exactly as for a repository that does not exist.
    alice = get_user("alice")
    create_repository(alice, "secret", "private")
    bob = create_user("bob")
    grant(find_repository("alice", "libs"), bob, "write")
    _, token = issue_token(bob, FULL_SCOPES)
    manifest, blobs = labelled_image("https://appliance.test/alice/secret")
    for blob in blobs:
        assert registry.push_blob(blob, auth=basic("bob", token)).status_code == 201
    response = registry.put_manifest("v1", manifest, OCI_MANIFEST, auth=basic("bob", token))
    assert response.status_code == 201, response.get_data(as_text=True)
    # alice, who can see it, is told.
    response = push(registry, "https://appliance.test/alice/secret")
    assert response.status_code == 403 and "alice/secret" in response.get_json()["errors"][0]["message"]
