"""Non-distributable layers: a manifest whose layers have a non-distributable media type (or the URLs to
fetch them from) is accepted without those blobs, and pulled back byte for byte by tag and by digest."""
from __future__ import annotations

import json

import pytest

from appliance import packages as service
from tests.support.oci import DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST, descriptor, digest_of, random_bytes
from tests.unit.formats.docker.conftest import error_code

OCI_FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def windows_image(media_type: str, foreign: bytes, own: bytes) -> tuple[bytes, bytes]:
    """A manifest (Windows-style: a base layer fetched from its vendor, then a layer of its own) and its config."""
    config = json.dumps({"architecture": "amd64", "os": "windows", "rootfs": {"type": "layers"}}).encode()
    docker = media_type == DOCKER_MANIFEST
    document = {"schemaVersion": 2, "mediaType": media_type,
                "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
                "layers": [descriptor(DOCKER_FOREIGN if docker else OCI_FOREIGN, foreign,
                                      urls=["https://vendor.example/base-layer.tar.gz"]),
                           descriptor(DOCKER_LAYER if docker else "application/vnd.oci.image.layer.v1.tar+gzip", own)]}
    return json.dumps(document, indent=3).encode(), config


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_a_manifest_with_a_non_distributable_layer_is_accepted_without_it_and_pulled_byte_for_byte(
        registry, media_type):
    foreign, own = random_bytes(2000), random_bytes(300)
    manifest, config = windows_image(media_type, foreign, own)
    registry.push_blob(config)
    registry.push_blob(own)
    response = registry.put_manifest("ltsc", manifest, media_type)
    assert response.status_code == 201, response.get_data(as_text=True)
    for reference in ("ltsc", digest_of(manifest)):
        got = registry.request("GET", f"/v2/{registry.image}/manifests/{reference}")
        assert got.status_code == 200 and got.data == manifest
        assert got.headers["Content-Type"] == media_type
        assert got.headers["Docker-Content-Digest"] == digest_of(manifest)
    # The registry never had the foreign layer: clients fetch it from its URLs.
    assert error_code(registry.request("GET", f"/v2/{registry.image}/blobs/{digest_of(foreign)}")) == "BLOB_UNKNOWN"
    version = service.find_version(service.find_package("alice", "docker", "app"), digest_of(manifest))
    assert sorted(f.name for f in service.files_of([version])[version.id]) == sorted(
        ["manifest.json", digest_of(config), digest_of(own)])


def test_a_non_distributable_layer_pushed_all_the_same_is_kept_with_the_manifest(registry):
    foreign, own = random_bytes(2000), random_bytes(300)
    manifest, config = windows_image(OCI_MANIFEST, foreign, own)
    for blob in (config, own, foreign):
        registry.push_blob(blob)
    assert registry.put_manifest("ltsc", manifest, OCI_MANIFEST).status_code == 201
    version = service.find_version(service.find_package("alice", "docker", "app"), digest_of(manifest))
    assert digest_of(foreign) in {f.name for f in service.files_of([version])[version.id]}
    assert registry.request("GET", f"/v2/{registry.image}/blobs/{digest_of(foreign)}").data == foreign


def test_the_layers_the_registry_holds_are_still_required(registry):
    foreign, own = random_bytes(2000), random_bytes(300)
    manifest, config = windows_image(OCI_MANIFEST, foreign, own)
    registry.push_blob(config)
    response = registry.put_manifest("ltsc", manifest, OCI_MANIFEST)
    assert response.status_code == 400 and error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert response.get_json()["errors"][0]["detail"] == {"digest": digest_of(own)}
