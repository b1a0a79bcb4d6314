"""Parsing of image names, references, routes, Content-Range and manifests, on bytes and strings alone."""
from __future__ import annotations

import json

import pytest

from appliance.formats.docker import metadata as m

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64


def descriptor(digest: str, media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip", size: int = 10,
               **extra) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image_manifest(**extra) -> dict:
    return {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
            "config": descriptor(DIGEST_A, "application/vnd.oci.image.config.v1+json"),
            "layers": [descriptor(DIGEST_B), descriptor(DIGEST_C)], **extra}


@pytest.mark.parametrize("name, parts", [
    ("alice/libs/app", ("alice", "libs", "app")),
    ("alice/libs/tools/app", ("alice", "libs", "tools/app")),
    ("acme-corp/my.repo/web__server-1", ("acme-corp", "my.repo", "web__server-1")),
])
def test_image_names_are_owner_repository_image(name, parts):
    parsed = m.parse_image_name(name)
    assert (parsed.owner, parsed.repository, parsed.image) == parts
    assert str(parsed) == name


@pytest.mark.parametrize("name, says", [
    ("alice/app", "OWNER/REPOSITORY/IMAGE"),
    ("app", "OWNER/REPOSITORY/IMAGE"),
    ("Alice/libs/app", "lowercase"),
    ("alice/libs/-app", "lowercase"),
    ("alice//app", "lowercase"),
    ("alice/libs/app/", "lowercase"),
    ("alice/libs/" + "a" * 250, "at most 255"),
])
def test_invalid_image_names_say_what_a_name_is(name, says):
    with pytest.raises(m.NameInvalid, match=says) as raised:
        m.parse_image_name(name)
    assert raised.value.code == "NAME_INVALID"


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "A" * 128, "1.0-rc_1"])
def test_valid_tags(tag):
    assert m.parse_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a" * 129, "a/b", "a+b"])
def test_invalid_tags(tag):
    with pytest.raises(m.TagInvalid) as raised:
        m.parse_tag(tag)
    assert raised.value.code == "TAG_INVALID"


def test_references_are_tags_or_digests():
    assert m.parse_reference("latest") == m.Reference(tag="latest")
    assert m.parse_reference(DIGEST_A) == m.Reference(digest=DIGEST_A)
    assert m.parse_reference("sha512:" + "a" * 128) == m.Reference(digest="sha512:" + "a" * 128)
    with pytest.raises(m.DigestInvalid, match="sha256"):
        m.parse_reference("sha256:abc")
    with pytest.raises(m.DigestInvalid):
        m.parse_digest("sha256:" + "A" * 64)
    with pytest.raises(m.DigestInvalid):
        m.parse_digest("sha512:" + "a" * 64)  # a sha256's length under sha512's name


@pytest.mark.parametrize("digest", ["sha384:" + "a" * 96, "blake3:" + "a" * 64, "md5:" + "a" * 32])
def test_a_digest_of_an_algorithm_this_registry_does_not_keep_is_digest_invalid_saying_so(digest):
    with pytest.raises(m.DigestInvalid, match="unsupported digest algorithm") as raised:
        m.parse_digest(digest)
    assert raised.value.code == "DIGEST_INVALID"
    assert raised.value.detail["algorithms"] == ["sha256", "sha512"]


def test_the_digest_algorithm_an_upload_names_at_its_start():
    assert m.parse_digest_algorithm("sha512") == "sha512"
    with pytest.raises(m.AlgorithmUnsupported, match="sha256 or sha512") as raised:
        m.parse_digest_algorithm("sha384")
    assert raised.value.code == "UNSUPPORTED"


def test_sha256_digest_of_bytes():
    assert m.sha256_digest(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert m.digest_hex(DIGEST_A) == "a" * 64
    assert m.digest_of(b"", "sha512").startswith("sha512:cf83e1357eefb8bd")
    assert m.digest_algorithm("sha512:" + "a" * 128) == "sha512"


@pytest.mark.parametrize("path, route", [
    ("_catalog", m.Route("catalog")),
    ("alice/libs/app/manifests/latest", m.Route("manifest", "alice/libs/app", "latest")),
    ("alice/libs/app/blobs/uploads/", m.Route("uploads", "alice/libs/app")),
    ("alice/libs/app/blobs/uploads", m.Route("uploads", "alice/libs/app")),
    ("alice/libs/app/blobs/uploads/1234-abcd", m.Route("upload", "alice/libs/app", "1234-abcd")),
    (f"alice/libs/app/blobs/{DIGEST_A}", m.Route("blob", "alice/libs/app", DIGEST_A)),
    ("alice/libs/app/tags/list", m.Route("tags", "alice/libs/app")),
    (f"alice/libs/app/referrers/{DIGEST_A}", m.Route("referrers", "alice/libs/app", DIGEST_A)),
    # Image names may contain the words of the routes.
    ("alice/libs/blobs/manifests/v1", m.Route("manifest", "alice/libs/blobs", "v1")),
    ("alice/libs/manifests/tags/list", m.Route("tags", "alice/libs/manifests")),
])
def test_routes_are_matched_from_the_end(path, route):
    assert m.parse_route(path) == route


@pytest.mark.parametrize("path", ["", "alice/libs/app", "alice/libs/app/manifests/", "alice/libs/app/tags"])
def test_paths_that_are_no_endpoint(path):
    assert m.parse_route(path) is None


@pytest.mark.parametrize("header, start, end", [
    ("0-1023", 0, 1023), ("bytes 10-19/*", 10, 19), ("bytes=5-5", 5, 5), ("bytes 0-9/10", 0, 9)])
def test_content_range(header, start, end):
    parsed = m.parse_content_range(header)
    assert (parsed.start, parsed.end, parsed.length) == (start, end, end - start + 1)


@pytest.mark.parametrize("header", ["", "10", "a-b", "5-4", "-5", "0-"])
def test_invalid_content_range(header):
    with pytest.raises(m.RangeInvalid) as raised:
        m.parse_content_range(header)
    assert raised.value.code == "BLOB_UPLOAD_INVALID"


def test_upload_range_header():
    assert m.upload_range_header(0) == "0-0"
    assert m.upload_range_header(1) == "0-0"
    assert m.upload_range_header(1024) == "0-1023"


def test_an_oci_image_manifest():
    body = json.dumps(image_manifest(annotations={"k": "v"})).encode()
    manifest = m.parse_manifest(body, m.OCI_MANIFEST)
    assert manifest.digest == m.sha256_digest(body) and manifest.size == len(body)
    assert not manifest.is_index
    assert [b.digest for b in manifest.blobs] == [DIGEST_A, DIGEST_B, DIGEST_C]
    assert manifest.effective_artifact_type == "application/vnd.oci.image.config.v1+json"
    assert m.manifest_summary(manifest) == {
        "mediaType": m.OCI_MANIFEST, "size": len(body),
        "artifactType": "application/vnd.oci.image.config.v1+json", "annotations": {"k": "v"}}


def test_a_manifest_pushed_by_a_sha512_digest_is_known_by_it():
    body = json.dumps(image_manifest(layers=[descriptor("sha512:" + "d" * 128)])).encode()
    manifest = m.parse_manifest(body, m.OCI_MANIFEST, "sha512")
    assert manifest.digest == m.digest_of(body, "sha512")
    assert [b.digest for b in manifest.blobs] == [DIGEST_A, "sha512:" + "d" * 128]


@pytest.mark.parametrize("layer", [
    descriptor(DIGEST_C, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
    descriptor(DIGEST_C, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
               urls=["https://mcr.example/layer"]),
    descriptor(DIGEST_C, urls=["https://cdn.example/layer.tgz"]),
])
def test_layers_hosted_elsewhere_are_not_blobs_the_registry_needs(layer):
    manifest = m.parse_manifest(json.dumps(image_manifest(layers=[descriptor(DIGEST_B), layer])).encode(),
                                m.OCI_MANIFEST)
    assert [b.digest for b in manifest.blobs] == [DIGEST_A, DIGEST_B]
    assert [b.digest for b in manifest.foreign_layers] == [DIGEST_C]
    assert manifest.foreign_layers[0].urls == tuple(layer.get("urls", ()))


def test_a_docker_schema2_manifest_by_its_content_type_alone():
    document = image_manifest()
    del document["mediaType"]
    manifest = m.parse_manifest(json.dumps(document).encode(), f"{m.DOCKER_MANIFEST}; charset=utf-8")
    assert manifest.media_type == m.DOCKER_MANIFEST


def test_an_oci_manifest_without_media_type_by_its_shape():
    document = image_manifest()
    del document["mediaType"]
    assert m.parse_manifest(json.dumps(document).encode(), "application/json").media_type == m.OCI_MANIFEST


def test_an_index_with_platforms_and_an_artifact_with_a_subject():
    index = {"schemaVersion": 2, "mediaType": m.DOCKER_MANIFEST_LIST, "manifests": [
        descriptor(DIGEST_A, m.DOCKER_MANIFEST, platform={"architecture": "amd64", "os": "linux"}),
        descriptor(DIGEST_B, m.DOCKER_MANIFEST, platform={"architecture": "arm64", "os": "linux"})]}
    parsed = m.parse_manifest(json.dumps(index).encode(), m.DOCKER_MANIFEST_LIST)
    assert parsed.is_index and parsed.blobs == ()
    assert [c.digest for c in parsed.manifests] == [DIGEST_A, DIGEST_B]
    assert m.manifest_summary(parsed)["platforms"][1] == {"architecture": "arm64", "os": "linux"}

    artifact = image_manifest(artifactType="application/vnd.example.sbom", subject=descriptor(DIGEST_C, m.OCI_MANIFEST))
    parsed = m.parse_manifest(json.dumps(artifact).encode(), m.OCI_MANIFEST)
    assert parsed.subject.digest == DIGEST_C
    assert parsed.referrer_descriptor() == {"mediaType": m.OCI_MANIFEST, "digest": parsed.digest,
                                            "size": parsed.size, "artifactType": "application/vnd.example.sbom"}
    assert m.manifest_summary(parsed)["subject"] == DIGEST_C


@pytest.mark.parametrize("document, content_type, says", [
    (b"not json", m.OCI_MANIFEST, "not JSON"),
    (b"[1]", m.OCI_MANIFEST, "not a JSON object"),
    (b'{"a":' * 100_000, m.OCI_MANIFEST, "nested too deeply"),
    (image_manifest(schemaVersion=1), m.OCI_MANIFEST, "schemaVersion"),
    (image_manifest(), m.DOCKER_MANIFEST, "says mediaType"),
    (image_manifest(mediaType="application/x-other"), "application/x-other", "unsupported manifest media type"),
    ({"schemaVersion": 1, "fsLayers": []}, "application/vnd.docker.distribution.manifest.v1+prettyjws",
     "schema 1"),
    (image_manifest(config=None), m.OCI_MANIFEST, "config"),
    (image_manifest(layers="x"), m.OCI_MANIFEST, "layers"),
    (image_manifest(layers=[descriptor("sha256:short")]), m.OCI_MANIFEST, r"layers\[0\]"),
    (image_manifest(layers=[{"digest": DIGEST_B, "size": 1}]), m.OCI_MANIFEST, "mediaType"),
    (image_manifest(layers=[descriptor(DIGEST_B, size=-1)]), m.OCI_MANIFEST, "size"),
    (image_manifest(layers=[descriptor(DIGEST_B, size=True)]), m.OCI_MANIFEST, "size"),
    (image_manifest(annotations={"a": 1}), m.OCI_MANIFEST, "annotations"),
    (image_manifest(layers=[descriptor(DIGEST_B, urls="https://x")]), m.OCI_MANIFEST, "urls"),
    (image_manifest(layers=[descriptor(DIGEST_B, urls=[1])]), m.OCI_MANIFEST, "urls"),
    (image_manifest(subject="x"), m.OCI_MANIFEST, "subject"),
    ({"schemaVersion": 2, "mediaType": m.OCI_INDEX}, m.OCI_INDEX, "manifests"),
    ({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [descriptor(DIGEST_A)]}, m.OCI_INDEX,
     "not a manifest"),
])
def test_invalid_manifests(document, content_type, says):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(m.ManifestInvalid, match=says) as raised:
        m.parse_manifest(body, content_type)
    assert raised.value.code == "MANIFEST_INVALID"


def test_referrers_index():
    assert m.referrers_index([]) == {"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": []}


def test_the_referrers_tag_schema():
    assert m.referrers_tag_prefix("sha256-" + "a" * 64) == DIGEST_A
    assert m.referrers_tag_prefix("sha512-" + "b" * 64) == "sha512:" + "b" * 64
    for tag in ("latest", "sha256-abc", "sha384-" + "a" * 64, "sha256-" + "A" * 64):
        assert m.referrers_tag_prefix(tag) is None
