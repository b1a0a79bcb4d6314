"""sha512 digests wherever the distribution spec allows them (blobs sent whole and in chunks, fetched,
checked, mounted and deleted by sha512; manifests pushed, fetched and deleted by sha512 and referencing
sha512 blobs), and an algorithm the registry does not keep refused in the spec's shape, never a bare 400."""
from __future__ import annotations

import pytest

from appliance.models import Blob, BlobUpload
from tests.support.oci import OCI_MANIFEST, build_image, digest_of, random_bytes
from tests.unit.formats.docker.conftest import error_code

SHA384 = "sha384:" + "a" * 96


def blob_url(registry, digest: str, image: str | None = None) -> str:
    return f"/v2/{image or registry.image}/blobs/{digest}"


def push_sha512(registry, data: bytes, image: str | None = None):
    return registry.request("POST", f"/v2/{image or registry.image}/blobs/uploads/?digest={digest_of(data, 'sha512')}",
                            data=data)


def test_a_blob_sent_whole_by_its_sha512_is_fetched_checked_and_deleted_by_it(registry):
    data = random_bytes(4000)
    digest = digest_of(data, "sha512")
    response = push_sha512(registry, data)
    assert response.status_code == 201
    assert response.headers["Location"] == blob_url(registry, digest)
    assert response.headers["Docker-Content-Digest"] == digest
    got = registry.request("GET", blob_url(registry, digest))
    assert got.status_code == 200 and got.data == data and got.headers["Docker-Content-Digest"] == digest
    head = registry.request("HEAD", blob_url(registry, digest))
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    # Stored once, under its sha256 as every blob, and known by both digests.
    assert Blob.get().sha512 == digest.split(":")[1]
    assert registry.request("GET", blob_url(registry, digest_of(data))).data == data
    assert registry.request("DELETE", blob_url(registry, digest)).status_code == 202
    assert error_code(registry.request("GET", blob_url(registry, digest))) == "BLOB_UNKNOWN"
    assert error_code(registry.request("DELETE", blob_url(registry, digest))) == "BLOB_UNKNOWN"


@pytest.mark.parametrize("hint", ["", "&digest-algorithm=sha512"])
def test_a_chunked_upload_finished_by_its_sha512(registry, hint):
    data = random_bytes(3000)
    digest = digest_of(data, "sha512")
    started = registry.request("POST", f"/v2/{registry.image}/blobs/uploads/?{hint.lstrip('&')}")
    assert started.status_code == 202
    location = started.headers["Location"]
    assert registry.request("PATCH", location, data=data[:1000], headers={"Content-Range": "0-999"}).status_code == 202
    assert registry.request("PATCH", location, data=data[1000:2000],
                            headers={"Content-Range": "1000-1999"}).status_code == 202
    response = registry.request("PUT", f"{location}?digest={digest}", data=data[2000:],
                                headers={"Content-Range": "2000-2999"})
    assert response.status_code == 201 and response.headers["Docker-Content-Digest"] == digest
    assert registry.request("GET", blob_url(registry, digest)).data == data


def test_a_wrong_sha512_stores_nothing(registry):
    before = (registry.files(), registry.rows())
    data = random_bytes(100)
    wrong = digest_of(b"other", "sha512")
    response = registry.request("POST", f"/v2/{registry.image}/blobs/uploads/?digest={wrong}", data=data)
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    location = registry.request("POST", f"/v2/{registry.image}/blobs/uploads/").headers["Location"]
    registry.request("PATCH", location, data=data)
    response = registry.request("PUT", f"{location}?digest={wrong}")
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    assert "sha512" in response.get_json()["errors"][0]["message"]
    assert (registry.files(), registry.rows()) == before


def test_a_blob_is_mounted_by_its_sha512(registry):
    data = random_bytes(500)
    digest = digest_of(data, "sha512")
    push_sha512(registry, data)
    response = registry.request("POST", f"/v2/alice/libs/copy/blobs/uploads/?mount={digest}&from=alice/libs/app")
    assert response.status_code == 201 and response.headers["Docker-Content-Digest"] == digest
    assert registry.request("GET", blob_url(registry, digest, "alice/libs/copy")).data == data


def test_content_pushed_by_sha256_becomes_known_by_sha512_when_pushed_by_it(registry):
    data = random_bytes(700)
    registry.push_blob(data)
    digest = digest_of(data, "sha512")
    # Not hashed with sha512 yet: the client is told to send it, and it is stored once all the same.
    assert registry.request("HEAD", blob_url(registry, digest)).status_code == 404
    assert push_sha512(registry, data).status_code == 201
    assert registry.request("GET", blob_url(registry, digest)).data == data
    assert Blob.select().count() == 1


def test_a_manifest_of_sha512_blobs_pushed_fetched_and_deleted_by_its_sha512(registry):
    image = build_image([random_bytes(300), random_bytes(400)], algorithm="sha512")
    for blob in image.blobs:
        assert push_sha512(registry, blob).status_code == 201
    digest = image.digest_by("sha512")
    response = registry.put_manifest(digest, image.manifest, OCI_MANIFEST)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Location"] == f"/v2/{registry.image}/manifests/{digest}"
    got = registry.request("GET", f"/v2/{registry.image}/manifests/{digest}")
    assert got.status_code == 200 and got.data == image.manifest
    assert got.headers["Docker-Content-Digest"] == digest
    head = registry.request("HEAD", f"/v2/{registry.image}/manifests/{digest}")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(image.manifest)
    # Tagged, it answers with the digest it was pushed by.
    assert registry.put_manifest("v1", image.manifest, OCI_MANIFEST).status_code == 201
    assert registry.request("GET", f"/v2/{registry.image}/manifests/v1").data == image.manifest
    assert registry.request("DELETE", f"/v2/{registry.image}/manifests/{digest}").status_code == 202
    assert error_code(registry.request("GET", f"/v2/{registry.image}/manifests/{digest}")) == "MANIFEST_UNKNOWN"


def test_a_manifest_whose_sha512_is_not_the_reference_is_refused(registry):
    image = build_image([random_bytes(30)], algorithm="sha512")
    for blob in image.blobs:
        push_sha512(registry, blob)
    before = registry.rows()
    response = registry.put_manifest(digest_of(b"other", "sha512"), image.manifest, OCI_MANIFEST)
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    assert registry.rows() == before


def test_a_manifest_whose_sha512_blobs_are_missing_names_them(registry):
    image = build_image([random_bytes(30)], algorithm="sha512")
    push_sha512(registry, image.blobs[0])
    registry.push_blob(image.blobs[1])  # sent by sha256 only: not known by its sha512
    response = registry.put_manifest("v1", image.manifest, OCI_MANIFEST)
    assert response.status_code == 400 and error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert response.get_json()["errors"][0]["detail"] == {"digest": digest_of(image.blobs[1], "sha512")}


@pytest.mark.parametrize("method, path", [
    ("GET", f"/v2/alice/libs/app/blobs/{SHA384}"),
    ("HEAD", f"/v2/alice/libs/app/blobs/{SHA384}"),
    ("DELETE", f"/v2/alice/libs/app/blobs/{SHA384}"),
    ("POST", f"/v2/alice/libs/app/blobs/uploads/?digest={SHA384}"),
    ("POST", f"/v2/alice/libs/app/blobs/uploads/?mount={SHA384}&from=alice/libs/app"),
    ("GET", f"/v2/alice/libs/app/manifests/{SHA384}"),
    ("PUT", f"/v2/alice/libs/app/manifests/{SHA384}"),
    ("DELETE", f"/v2/alice/libs/app/manifests/{SHA384}"),
    ("GET", f"/v2/alice/libs/app/referrers/{SHA384}"),
])
def test_a_digest_of_another_algorithm_is_digest_invalid_saying_which_are_taken(registry, method, path):
    response = registry.request(method, path, data=b"{}")
    assert response.status_code == 400
    if method != "HEAD":
        error = response.get_json()["errors"][0]
        assert error["code"] == "DIGEST_INVALID"
        assert "unsupported digest algorithm 'sha384'" in error["message"]
        assert error["detail"]["algorithms"] == ["sha256", "sha512"]


def test_finishing_an_upload_by_another_algorithm_is_digest_invalid_and_keeps_the_upload(registry):
    location = registry.request("POST", f"/v2/{registry.image}/blobs/uploads/").headers["Location"]
    registry.request("PATCH", location, data=b"abc")
    response = registry.request("PUT", f"{location}?digest={SHA384}")
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    assert BlobUpload.select().count() == 1
    assert registry.request("PUT", f"{location}?digest={digest_of(b'abc', 'sha512')}").status_code == 201


def test_an_upload_naming_an_algorithm_the_registry_does_not_hash_with_is_unsupported(registry):
    response = registry.request("POST", f"/v2/{registry.image}/blobs/uploads/?digest-algorithm=sha384")
    assert response.status_code == 400 and error_code(response) == "UNSUPPORTED"
    assert "sha256 or sha512" in response.get_json()["errors"][0]["message"]
    assert BlobUpload.select().count() == 0
