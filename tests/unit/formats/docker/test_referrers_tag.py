"""The referrers tag schema (`sha256-HEX`), for clients that do not use the referrers API: the tag answers
the referrers the registry knows, kept in step with every push and delete, listed while it has any."""
from __future__ import annotations

import json

from tests.support.oci import OCI_INDEX, build_image, digest_of, random_bytes
from tests.unit.formats.docker.conftest import error_code


def referrers_tag(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded[:64]}"


def tag_answer(registry, digest: str):
    return registry.request("GET", f"/v2/{registry.image}/manifests/{referrers_tag(digest)}")


def tags(registry) -> list[str]:
    return registry.request("GET", f"/v2/{registry.image}/tags/list").get_json()["tags"]


def test_the_referrers_tag_answers_what_the_referrers_api_does_and_follows_pushes_and_deletes(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    assert error_code(tag_answer(registry, image.digest)) == "MANIFEST_UNKNOWN"  # a fallback client starts empty
    assert tags(registry) == ["v1"]

    sbom = build_image([b'{"sbom": 1}'], artifact_type="application/vnd.example.sbom", subject=image,
                       annotations={"org.example": "1"})
    registry.push_image(sbom, sbom.digest)
    answer = tag_answer(registry, image.digest)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == OCI_INDEX
    assert answer.headers["Docker-Content-Digest"] == digest_of(answer.data)
    api = registry.request("GET", f"/v2/{registry.image}/referrers/{image.digest}")
    assert json.loads(answer.data) == api.get_json()
    assert [m["digest"] for m in api.get_json()["manifests"]] == [sbom.digest]
    head = registry.request("HEAD", f"/v2/{registry.image}/manifests/{referrers_tag(image.digest)}")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(answer.data)
    assert tags(registry) == [referrers_tag(image.digest), "v1"]

    signature = build_image([b"signature"], artifact_type="application/vnd.example.signature", subject=image)
    registry.push_image(signature, signature.digest)
    assert [m["digest"] for m in tag_answer(registry, image.digest).get_json()["manifests"]] == [
        sbom.digest, signature.digest]

    assert registry.request("DELETE", f"/v2/{registry.image}/manifests/{sbom.digest}").status_code == 202
    assert [m["digest"] for m in tag_answer(registry, image.digest).get_json()["manifests"]] == [signature.digest]
    assert registry.request("DELETE", f"/v2/{registry.image}/manifests/{signature.digest}").status_code == 202
    assert error_code(tag_answer(registry, image.digest)) == "MANIFEST_UNKNOWN"
    assert tags(registry) == ["v1"]


def test_an_index_a_fallback_client_pushes_to_the_tag_is_kept_and_the_tag_stays_in_step(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    sbom = build_image([b'{"sbom": 2}'], artifact_type="application/vnd.example.sbom", subject=image)
    registry.push_image(sbom, sbom.digest)
    # A client that did not see OCI-Subject updates the tag itself, as the spec tells it to.
    pushed = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": sbom.media_type, "digest": sbom.digest, "size": len(sbom.manifest),
         "artifactType": "application/vnd.example.sbom"}]}).encode()
    response = registry.put_manifest(referrers_tag(image.digest), pushed, OCI_INDEX)
    assert response.status_code == 201
    assert registry.request("GET", f"/v2/{registry.image}/manifests/{digest_of(pushed)}").data == pushed
    # Another referrer pushed through the API afterwards is in the tag's answer all the same.
    signature = build_image([b"sig"], artifact_type="application/vnd.example.signature", subject=image)
    registry.push_image(signature, signature.digest)
    assert [m["digest"] for m in tag_answer(registry, image.digest).get_json()["manifests"]] == [
        sbom.digest, signature.digest]


def test_the_referrers_tag_of_a_sha512_subject_takes_its_first_64_hex_digits(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    subject = image.digest_by("sha512")
    document = json.loads(build_image([b"sig512"], artifact_type="application/vnd.example.signature").manifest)
    document["subject"] = {"mediaType": image.media_type, "digest": subject, "size": len(image.manifest)}
    body = json.dumps(document).encode()
    for blob in build_image([b"sig512"], artifact_type="application/vnd.example.signature").blobs:
        registry.push_blob(blob)
    response = registry.put_manifest(digest_of(body), body, image.media_type)
    assert response.status_code == 201 and response.headers["OCI-Subject"] == subject
    assert len(referrers_tag(subject)) == len("sha512-") + 64
    assert [m["digest"] for m in tag_answer(registry, subject).get_json()["manifests"]] == [digest_of(body)]
    assert referrers_tag(subject) in tags(registry)
