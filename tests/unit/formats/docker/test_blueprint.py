"""The registry over HTTP, in process: the token flow, blob uploads (whole, chunked, resumed, cancelled,
mounted), manifests and indexes, tags, catalog, referrers, deletes, and every error the spec names."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from appliance import create_app
from appliance import packages as service
from appliance.accounts.service import create_repository, create_user, get_user
from appliance.auth.tokens import issue_token
from appliance.formats.docker import blueprint as docker_blueprint
from appliance.models import Blob, BlobUpload, DownloadCount, StagedBlob, Token
from appliance.models.base import utcnow
from appliance.settings import store_setting
from tests.support.oci import OCI_INDEX, build_image, build_index, digest_of, random_bytes
from tests.support.queries import Queries
from tests.support.recent import recent_answers_on_a_clock
from tests.unit.formats.docker.conftest import basic, bearer, error_code

# ---- the base, the layout and the token flow -----------------------------------------------------------


def test_the_base_challenges_anonymous_clients_to_the_token_endpoint(registry):
    response = registry.request("GET", "/v2/", auth=False)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="http://docker.appliance.test/token",service="docker.appliance.test"')
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert error_code(response) == "UNAUTHORIZED"
    assert registry.request("GET", "/v2/").status_code == 200
    # A personal access token sent directly as a bearer token works too (curl, scripts).
    assert registry.request("GET", "/v2/", auth=bearer(registry.token)).status_code == 200
    assert registry.request("POST", "/v2/alice/libs/app/blobs/uploads/", auth=bearer(registry.token)).status_code == 202


def test_without_subdomain_isolation_every_request_says_docker_needs_it(registry):
    store_setting("subdomain_isolation", False)
    for path, host in (("/v2/alice/libs/app/tags/list", "docker.appliance.test"),
                       ("/_registry/docker/v2/alice/libs/app/tags/list", "appliance.test"),
                       ("/v2/alice/libs/app/blobs/uploads/", "docker.appliance.test")):
        response = registry.request("POST" if path.endswith("/") else "GET", path, headers={"Host": host},
                                    auth=bearer(registry.token))
        assert response.status_code == 404
        assert error_code(response) == "UNSUPPORTED"
        assert "subdomain isolation" in response.get_json()["errors"][0]["message"]
    # The ping and the token answer as ever: clients print only their status, so the reason must come on
    # the request that follows (tests/clients/test_editions_clients.py sees skopeo print it).
    assert registry.request("GET", "/v2/", headers={"Host": "docker.appliance.test"}).status_code == 200
    assert registry.request("GET", "/token", headers={"Host": "docker.appliance.test"}).status_code == 200


def test_a_wrong_host_or_the_path_layout_is_refused_in_the_spec_shape(registry):
    response = registry.request("GET", "/_registry/docker/v2/", headers={"Host": "appliance.test"})
    assert response.status_code == 404 and "docker.appliance.test" in response.get_json()["errors"][0]["message"]
    response = registry.request("GET", "/nothing-here")
    assert response.status_code == 404 and error_code(response) == "UNSUPPORTED"
    response = registry.request("GET", "/v2/alice/libs/app/nothing")
    assert response.status_code == 404 and "no such endpoint" in response.get_json()["errors"][0]["message"]


def token_for(registry, *scopes, auth=True) -> str:
    query = "&".join(f"scope={s}" for s in scopes)
    response = registry.request("GET", f"/token?service=docker.appliance.test&{query}", auth=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    document = response.get_json()
    assert document["token"] == document["access_token"] and document["expires_in"] > 0
    return document["token"]


def test_a_bearer_token_grants_what_the_rules_allow_and_nothing_else(registry):
    bob = create_user("bob")
    create_repository(bob, "secret", "private")
    token = token_for(registry, "repository:alice/libs/app:pull,push", "repository:bob/secret/x:pull")
    image = build_image([random_bytes(100)])
    for blob in image.blobs:
        assert registry.push_blob(blob, auth=bearer(token)).status_code == 201
    assert registry.put_manifest("v1", image.manifest, image.media_type, auth=bearer(token)).status_code == 201
    assert registry.request("GET", "/v2/alice/libs/app/manifests/v1", auth=bearer(token)).status_code == 200
    # Left out of the grant: the registry answers for the repository as the rules say (404 for bob's).
    response = registry.request("GET", "/v2/bob/secret/x/tags/list", auth=bearer(token))
    assert response.status_code == 404 and error_code(response) == "NAME_UNKNOWN"
    # Allowed by the rules but not asked for: the client is sent for a wider token.
    response = registry.request("DELETE", f"/v2/alice/libs/app/manifests/{image.digest}", auth=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].endswith(
        'scope="repository:alice/libs/app:delete",error="insufficient_scope"')


def test_a_read_only_token_is_granted_pull_only(registry):
    read_only = issue_token(get_user("alice"), ["read:packages"])[1]
    token = token_for(registry, "repository:alice/libs/app:pull,push", auth=basic("alice", read_only))
    response = registry.push_blob(b"x", auth=bearer(token))
    assert response.status_code == 403 and error_code(response) == "DENIED"


def test_anonymous_tokens_pull_public_images_while_anonymous_read_is_on(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    token = token_for(registry, "repository:alice/libs/app:pull", auth=False)
    assert registry.request("GET", "/v2/alice/libs/app/manifests/v1", auth=bearer(token)).status_code == 200
    store_setting("anonymous_read", False)
    token = token_for(registry, "repository:alice/libs/app:pull", auth=False)
    response = registry.request("GET", "/v2/alice/libs/app/manifests/v1", auth=bearer(token))
    assert response.status_code == 401
    assert 'scope="repository:alice/libs/app:pull"' in response.headers["WWW-Authenticate"]


def test_a_bearer_token_stops_working_when_its_personal_token_is_revoked(registry):
    token = token_for(registry, "repository:alice/libs/app:pull,push")
    assert registry.request("POST", "/v2/alice/libs/app/blobs/uploads/", auth=bearer(token)).status_code == 202
    Token.update(revoked_at=utcnow()).execute()
    response = registry.request("POST", "/v2/alice/libs/app/blobs/uploads/", auth=bearer(token))
    assert response.status_code == 401 and "revoked" in response.get_json()["errors"][0]["message"]


def test_the_oauth2_password_grant(registry):
    response = registry.request("POST", "/token", auth=False, data={
        "grant_type": "password", "username": "alice", "password": registry.token, "service": "docker.appliance.test",
        "scope": "repository:alice/libs/app:pull,push"})
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    assert registry.request("POST", "/v2/alice/libs/app/blobs/uploads/", auth=bearer(token)).status_code == 202
    response = registry.request("POST", "/token", auth=False, data={"grant_type": "password", "password": "nope"})
    assert response.status_code == 401
    response = registry.request("POST", "/token", auth=False, data={"grant_type": "refresh_token"})
    assert response.status_code == 400 and error_code(response) == "UNSUPPORTED"


def test_forged_tokens_and_bad_basic_credentials_are_refused(registry):
    token = token_for(registry, "repository:alice/libs/app:pull")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert registry.request("GET", "/v2/alice/libs/app/tags/list", auth=bearer(forged)).status_code == 401
    response = registry.request("GET", "/token?scope=repository:alice/libs/app:pull", auth=basic("alice", "nope"))
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


def test_a_bearer_token_cannot_be_traded_for_a_wider_one(registry):
    """The review's widening: a pull token for an open image, presented at /token, asked for push and
    delete on another image the personal token could reach."""
    create_repository(get_user("alice"), "secret", "private")
    narrow = token_for(registry, "repository:alice/libs/app:pull")
    response = registry.request(
        "GET", "/token?scope=repository:alice/secret/img:pull,push,delete", auth=bearer(narrow))
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"
    assert "HTTP Basic" in response.get_json()["errors"][0]["message"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="http://docker.appliance.test/token"')


def test_a_bearer_token_cannot_renew_itself(registry):
    """The review's chain: each token traded for a fresh one, without the personal token again."""
    token = token_for(registry, "repository:alice/libs/app:pull")
    for _ in range(2):
        response = registry.request("GET", "/token?scope=repository:alice/libs/app:pull", auth=bearer(token))
        assert response.status_code == 401
    # nor as the password of HTTP Basic, nor through the OAuth2 form
    response = registry.request("GET", "/token?scope=repository:alice/libs/app:pull", auth=basic("alice", token))
    assert response.status_code == 401
    response = registry.request("POST", "/token", auth=bearer(token), data={
        "grant_type": "password", "password": token, "scope": "repository:alice/libs/app:pull"})
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Bearer apt_whatever", "token apt_whatever", "apt_whatever"])
def test_the_token_endpoint_takes_http_basic_or_nothing(registry, header):
    response = registry.request("GET", "/token?scope=repository:alice/libs/app:pull",
                                auth={"Authorization": header})
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"
    response = registry.request("GET", "/token?scope=repository:alice/libs/app:pull",
                                auth={"Authorization": header.replace("apt_whatever", registry.token)})
    assert response.status_code == 401


# ---- blobs and uploads ----------------------------------------------------------------------------------


def test_a_blob_sent_whole_is_served_whole_by_range_and_by_head(registry):
    data = random_bytes(5000)
    response = registry.push_blob(data)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/alice/libs/app/blobs/{digest_of(data)}"
    assert response.headers["Docker-Content-Digest"] == digest_of(data)
    url = f"/v2/alice/libs/app/blobs/{digest_of(data)}"
    got = registry.request("GET", url)
    assert got.status_code == 200 and got.data == data
    assert got.headers["Docker-Content-Digest"] == digest_of(data)
    head = registry.request("HEAD", url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == 5000 and head.data == b""
    part = registry.request("GET", url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == data[100:200]


def start(registry, image=None):
    response = registry.request("POST", f"/v2/{image or registry.image}/blobs/uploads/")
    assert response.status_code == 202
    assert response.headers["Range"] == "0-0"
    assert response.headers["Location"].endswith(response.headers["Docker-Upload-UUID"])
    return response.headers["Location"]


def test_post_then_put_with_the_body(registry):
    data = random_bytes(1000)
    location = start(registry)
    response = registry.request("PUT", f"{location}?digest={digest_of(data)}", data=data)
    assert response.status_code == 201
    assert registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(data)}").data == data
    assert BlobUpload.select().count() == 0
    assert not [f for f in registry.files() if f.startswith("uploads/")]


def test_a_chunked_upload_with_content_range_is_resumable_by_status(registry):
    data = random_bytes(3000)
    location = start(registry)
    response = registry.request("PATCH", location, data=data[:1000], headers={"Content-Range": "0-999"})
    assert response.status_code == 202 and response.headers["Range"] == "0-999"
    status = registry.request("GET", location)
    assert status.status_code == 204 and status.headers["Range"] == "0-999"
    # A chunk that does not start where the upload stands is refused, and changes nothing.
    response = registry.request("PATCH", location, data=data[500:1500], headers={"Content-Range": "500-1499"})
    assert response.status_code == 416 and error_code(response) == "BLOB_UPLOAD_INVALID"
    response = registry.request("PATCH", location, data=data[1000:2000], headers={"Content-Range": "1000-1999"})
    assert response.headers["Range"] == "0-1999"
    response = registry.request("PUT", f"{location}?digest={digest_of(data)}", data=data[2000:],
                                headers={"Content-Range": "2000-2999"})
    assert response.status_code == 201
    assert registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(data)}").data == data


def test_an_upload_continues_on_another_worker(registry, bootstrap):
    data = random_bytes(2000)
    location = start(registry)
    registry.request("PATCH", location, data=data[:1000], headers={"Content-Range": "0-999"})
    other = create_app(bootstrap).test_client()
    registry.client = other
    response = registry.request("PATCH", location, data=data[1000:], headers={"Content-Range": "1000-1999"})
    assert response.headers["Range"] == "0-1999"
    assert registry.request("PUT", f"{location}?digest={digest_of(data)}").status_code == 201
    assert registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(data)}").data == data


def test_a_single_patch_is_hashed_as_it_streams_and_a_later_one_is_read_again(registry):
    data = random_bytes(2000)
    location = start(registry)
    registry.request("PATCH", location, data=data)
    upload = BlobUpload.get()
    assert (upload.size, upload.sha256) == (2000, digest_of(data).split(":")[1])
    registry.request("PATCH", location, data=b"more")
    assert BlobUpload.get().sha256 is None
    assert registry.request("PUT", f"{location}?digest={digest_of(data + b'more')}").status_code == 201


def test_a_wrong_digest_stores_nothing(registry):
    before = (registry.files(), registry.rows())
    data = random_bytes(100)
    response = registry.request("POST", f"/v2/alice/libs/app/blobs/uploads/?digest={digest_of(b'other')}",
                                data=data)
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    location = start(registry)
    registry.request("PATCH", location, data=data)
    response = registry.request("PUT", f"{location}?digest={digest_of(b'other')}")
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    assert (registry.files(), registry.rows()) == before
    response = registry.request("PUT", f"{location}?digest={digest_of(data)}")
    assert response.status_code == 404 and error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_finishing_without_a_digest_and_bad_ranges(registry):
    location = start(registry)
    response = registry.request("PUT", location, data=b"abc")
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    for header in ("nonsense", "5-1"):
        response = registry.request("PATCH", location, data=b"abc", headers={"Content-Range": header})
        assert response.status_code == 416 and error_code(response) == "BLOB_UPLOAD_INVALID"
    response = registry.request("PATCH", location, data=b"abc", headers={"Content-Range": "0-9"})
    assert response.status_code == 416


def test_a_cancelled_upload_is_gone(registry):
    location = start(registry)
    registry.request("PATCH", location, data=b"abc")
    assert registry.request("DELETE", location).status_code == 204
    response = registry.request("GET", location)
    assert response.status_code == 404 and error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert not [f for f in registry.files() if f.startswith("uploads/")]
    for bad in ("no-such-upload", "x" * 65, "a.b"):
        response = registry.request("PATCH", f"/v2/alice/libs/app/blobs/uploads/{bad}", data=b"x")
        assert response.status_code == 404 and error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_an_upload_belongs_to_its_image(registry):
    location = start(registry)
    other = location.replace("/alice/libs/app/", "/alice/libs/other-image/")
    assert error_code(registry.request("GET", other)) == "BLOB_UPLOAD_UNKNOWN"


def test_a_blob_over_the_upload_limit_is_refused_and_dropped(registry):
    store_setting("max_upload_bytes", 1000)
    response = registry.push_blob(random_bytes(1001))
    assert response.status_code == 413 and error_code(response) == "SIZE_INVALID"
    location = start(registry)
    response = registry.request("PATCH", location, data=random_bytes(1001))
    assert response.status_code == 413
    assert not [f for f in registry.files() if f.startswith(("uploads/", "blobs/"))]
    assert BlobUpload.select().count() == 0


def test_unknown_blobs(registry):
    response = registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(b'none')}")
    assert response.status_code == 404 and error_code(response) == "BLOB_UNKNOWN"
    response = registry.request("GET", "/v2/alice/libs/app/blobs/sha256:short")
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"


def test_a_blob_is_stored_once_whatever_image_uses_it(registry):
    data = random_bytes(100)
    registry.push_blob(data)
    registry.push_blob(data, "alice/libs/second")
    assert Blob.select().count() == 1 and StagedBlob.select().count() == 2
    assert len([f for f in registry.files() if f.startswith("blobs/")]) == 1


def test_mounting_from_an_image_the_caller_can_read(registry):
    data = random_bytes(100)
    registry.push_blob(data)
    response = registry.request("POST", f"/v2/alice/libs/copy/blobs/uploads/?mount={digest_of(data)}"
                                        "&from=alice/libs/app")
    assert response.status_code == 201 and response.headers["Docker-Content-Digest"] == digest_of(data)
    assert registry.request("GET", f"/v2/alice/libs/copy/blobs/{digest_of(data)}").data == data
    # Not there, or not readable there: a plain upload starts instead.
    bob = create_user("bob")
    create_repository(bob, "secret", "private")
    bob_token = issue_token(bob, ["write:packages"])[1]
    registry.request("POST", f"/v2/bob/secret/x/blobs/uploads/?digest={digest_of(b'b')}", data=b"b",
                     auth=basic("bob", bob_token))
    for source in ("alice/libs/nothing", "bob/secret/x"):
        response = registry.request("POST", f"/v2/alice/libs/copy/blobs/uploads/?mount={digest_of(b'b')}&from={source}")
        assert response.status_code == 202
    assert registry.request("GET", f"/v2/alice/libs/copy/blobs/{digest_of(b'b')}").status_code == 404


def test_an_image_name_linked_to_another_repository_is_refused(registry):
    registry.push_image(build_image([random_bytes(10)]), "v1", "alice/libs/app")
    response = registry.request("POST", "/v2/alice/other/app/blobs/uploads/")
    assert response.status_code == 403 and error_code(response) == "DENIED"
    assert "alice/libs" in response.get_json()["errors"][0]["message"]


# ---- manifests ------------------------------------------------------------------------------------------


def test_an_image_by_tag_and_by_digest(registry):
    image = build_image([random_bytes(300), random_bytes(400)])
    response = registry.push_image(image, "v1")
    assert response.headers["Docker-Content-Digest"] == image.digest
    assert response.headers["Location"] == f"/v2/alice/libs/app/manifests/{image.digest}"
    for reference in ("v1", image.digest):
        got = registry.request("GET", f"/v2/alice/libs/app/manifests/{reference}")
        assert got.status_code == 200 and got.data == image.manifest
        assert got.headers["Content-Type"] == image.media_type
        assert got.headers["Docker-Content-Digest"] == image.digest
        head = registry.request("HEAD", f"/v2/alice/libs/app/manifests/{reference}")
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(image.manifest)
    assert sum(d.count for d in DownloadCount.select()) == 2
    package = service.find_package("alice", "docker", "app")
    version = service.find_version(package, image.digest)
    assert sorted(f.name for f in service.files_of([version])[version.id]) == sorted(
        ["manifest.json", *{digest_of(b) for b in image.blobs}])


def test_a_docker_schema2_image_and_a_multi_arch_index(registry):
    amd = build_image([random_bytes(50)], docker=True)
    arm = build_image([random_bytes(60)], architecture="arm64", docker=True)
    registry.push_image(amd, amd.digest)
    registry.push_image(arm, arm.digest)
    index = build_index([amd, arm])
    assert registry.put_manifest("multi", index.manifest, OCI_INDEX).status_code == 201
    got = registry.request("GET", "/v2/alice/libs/app/manifests/multi")
    assert got.data == index.manifest and got.headers["Content-Type"] == OCI_INDEX


def test_a_manifest_whose_blobs_or_children_are_missing_is_refused(registry):
    image = build_image([random_bytes(10), random_bytes(20)])
    registry.push_blob(image.blobs[0])
    registry.push_blob(image.blobs[1])
    before = registry.rows()
    response = registry.put_manifest("v1", image.manifest, image.media_type)
    assert response.status_code == 400 and error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert response.get_json()["errors"][0]["detail"] == {"digest": digest_of(image.blobs[2])}
    index = build_index([build_image([random_bytes(5)])])
    response = registry.put_manifest("multi", index.manifest, OCI_INDEX)
    assert response.status_code == 400 and error_code(response) == "MANIFEST_UNKNOWN"
    assert registry.rows() == before


def test_a_descriptor_size_that_does_not_match_the_blob(registry):
    image = build_image([random_bytes(10)])
    for blob in image.blobs:
        registry.push_blob(blob)
    document = json.loads(image.manifest)
    document["layers"][0]["size"] = 11
    response = registry.put_manifest("v1", json.dumps(document).encode(), image.media_type)
    assert response.status_code == 400 and error_code(response) == "SIZE_INVALID"


def test_invalid_manifests_names_tags_and_references(registry):
    image = build_image([random_bytes(10)])
    for blob in image.blobs:
        registry.push_blob(blob)
    before = (registry.files(), registry.rows())
    cases = [
        (registry.put_manifest("v1", b"{not json", image.media_type), 400, "MANIFEST_INVALID"),
        (registry.put_manifest(digest_of(b"x"), image.manifest, image.media_type), 400, "DIGEST_INVALID"),
        (registry.put_manifest("-bad", image.manifest, image.media_type), 400, "TAG_INVALID"),
        (registry.put_manifest("v1", image.manifest, image.media_type, "Alice/libs/app"), 400, "NAME_INVALID"),
        (registry.put_manifest("v1", image.manifest, image.media_type, "alice/app"), 400, "NAME_INVALID"),
        (registry.put_manifest("v1", b" " * (4 * 1024 * 1024 + 1), image.media_type), 413, "SIZE_INVALID"),
        (registry.request("GET", "/v2/alice/libs/app/manifests/v1"), 404, "NAME_UNKNOWN"),
        (registry.request("GET", "/v2/alice/nope/app/tags/list"), 404, "NAME_UNKNOWN"),
        (registry.request("PATCH", "/v2/alice/libs/app/manifests/v1"), 405, "UNSUPPORTED"),
    ]
    for response, status, code in cases:
        assert (response.status_code, error_code(response)) == (status, code), response.get_data(as_text=True)
    assert (registry.files(), registry.rows()) == before
    registry.push_image(image, "v1")
    response = registry.request("GET", "/v2/alice/libs/app/manifests/v2")
    assert response.status_code == 404 and error_code(response) == "MANIFEST_UNKNOWN"


def test_tags_are_listed_in_pages_with_links(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "b")
    for tag in ("a", "c", "d"):
        registry.put_manifest(tag, image.manifest, image.media_type)
    assert registry.request("GET", "/v2/alice/libs/app/tags/list").get_json() == {
        "name": "alice/libs/app", "tags": ["a", "b", "c", "d"]}
    page = registry.request("GET", "/v2/alice/libs/app/tags/list?n=2")
    assert page.get_json()["tags"] == ["a", "b"]
    assert page.headers["Link"] == '</v2/alice/libs/app/tags/list?n=2&last=b>; rel="next"'
    page = registry.request("GET", "/v2/alice/libs/app/tags/list?n=2&last=b")
    assert page.get_json()["tags"] == ["c", "d"] and "Link" not in page.headers
    assert error_code(registry.request("GET", "/v2/alice/libs/app/tags/list?n=x")) == "PAGINATION_NUMBER_INVALID"


def test_tags_and_referrers_tags_are_listed_together_a_page_at_a_time(app, registry):
    """Many tags and the referrers tag schema's (sha256-HEX, a sha512 subject's cut to 64 digits, one for
    a subject not pushed) are listed together in byte order, each once: paging by any n after `last`,
    with the Link, walks the whole listing; a page costs the same statements wherever it is."""
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v0")
    tags = ["v0", *(f"v{i}" for i in range(1, 25)), "A1", "Zed", "_x", "a-b", "a.b", "a_b", "a1"]
    for tag in tags[1:]:
        assert registry.put_manifest(tag, image.manifest, image.media_type).status_code == 201
    absent = build_image([random_bytes(10)])
    subjects = [image.digest, absent.digest]
    for subject in (image, absent):
        registry.push_image(referrer := build_image([random_bytes(8)], artifact_type="application/x.sig",
                                                    subject=subject), referrer.digest)
    sha512 = json.loads(build_image([b"sig512"], artifact_type="application/x.sig").manifest)
    sha512["subject"] = {"mediaType": image.media_type, "digest": image.digest_by("sha512"), "size": len(image.manifest)}
    body = json.dumps(sha512).encode()
    for blob in build_image([b"sig512"], artifact_type="application/x.sig").blobs:
        registry.push_blob(blob)
    assert registry.put_manifest(digest_of(body), body, image.media_type).status_code == 201
    subjects.append(image.digest_by("sha512"))
    schema = {f"{s.partition(':')[0]}-{s.partition(':')[2][:64]}" for s in subjects}
    # A fallback client's own push to a referrers tag is listed once.
    assert registry.put_manifest(min(schema), image.manifest, image.media_type).status_code == 201
    expected = sorted(set(tags) | schema)
    assert len(expected) == len(tags) + 3
    url = "/v2/alice/libs/app/tags/list"
    assert registry.request("GET", url).get_json() == {"name": "alice/libs/app", "tags": expected}
    recent_answers_on_a_clock(app)  # the caller's token and roles, looked up once, are remembered
    registry.request("GET", url)
    costs = set()
    for n in (1, 2, 5, 16, len(expected) - 1, len(expected), len(expected) + 1):
        walked, link = [], f"{url}?n={n}"
        while link:
            with Queries() as statements:
                page = registry.request("GET", link)
            costs.add(statements.count)
            # Paged in SQL: the statement that reads the tags reads a page of them (n + 1), not every tag.
            assert next(sql for sql in statements.statements if '"package_tag"' in sql).rsplit(" ", 2)[-2] == "LIMIT"
            names = page.get_json()["tags"]
            assert len(names) <= n and names == expected[len(walked):len(walked) + n], (n, link)
            walked += names
            more = len(walked) < len(expected)
            assert page.headers.get("Link") == (f'<{url}?n={n}&last={walked[-1]}>; rel="next"' if more else None)
            link = page.headers.get("Link", "")[1:].partition(">")[0]
        assert walked == expected
    assert len(costs) == 1
    between = registry.request("GET", f"{url}?n=3&last=a0").get_json()["tags"]
    assert between == [t for t in expected if t > "a0"][:3]
    assert registry.request("GET", f"{url}?last=v5").get_json()["tags"] == [t for t in expected if t > "v5"]
    empty = registry.request("GET", f"{url}?n=0")
    assert empty.get_json()["tags"] == [] and "Link" not in empty.headers


def test_the_catalog_lists_what_the_caller_can_read(registry):
    bob = create_user("bob")
    create_repository(bob, "secret", "private")
    bob_token = issue_token(bob, ["write:packages"])[1]
    registry.push_image(build_image([random_bytes(10)]), "v1")
    registry.push_image(build_image([random_bytes(10)]), "v1", "alice/libs/zeta")
    image = build_image([random_bytes(10)])
    for blob in image.blobs:
        registry.request("POST", f"/v2/bob/secret/hidden/blobs/uploads/?digest={digest_of(blob)}", data=blob,
                         auth=basic("bob", bob_token))
    registry.request("PUT", "/v2/bob/secret/hidden/manifests/v1", data=image.manifest,
                     headers={"Content-Type": image.media_type}, auth=basic("bob", bob_token))
    assert registry.request("GET", "/v2/_catalog").get_json() == {
        "repositories": ["alice/libs/app", "alice/libs/zeta"]}
    assert registry.request("GET", "/v2/_catalog", auth=basic("bob", bob_token)).get_json()["repositories"] == [
        "alice/libs/app", "alice/libs/zeta", "bob/secret/hidden"]
    page = registry.request("GET", "/v2/_catalog?n=1")
    assert page.get_json() == {"repositories": ["alice/libs/app"]}
    assert page.headers["Link"] == '</v2/_catalog?n=1&last=alice/libs/app>; rel="next"'
    page = registry.request("GET", "/v2/_catalog?n=1&last=alice/libs/app")
    assert page.get_json() == {"repositories": ["alice/libs/zeta"]} and "Link" not in page.headers
    assert error_code(registry.request("GET", "/v2/_catalog?n=x")) == "PAGINATION_NUMBER_INVALID"
    token = token_for(registry, "repository:alice/libs/app:pull")
    response = registry.request("GET", "/v2/_catalog", auth=bearer(token))
    assert response.status_code == 401 and 'scope="registry:catalog:*"' in response.headers["WWW-Authenticate"]
    token = token_for(registry, "registry:catalog:*")
    assert registry.request("GET", "/v2/_catalog", auth=bearer(token)).status_code == 200


def test_referrers_are_indexed_by_subject_and_filtered_by_artifact_type(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    sbom = build_image([b'{"sbom": true}'], artifact_type="application/vnd.example.sbom", subject=image,
                       annotations={"org.example": "1"})
    signature = build_image([b"signature"], artifact_type="application/vnd.example.signature", subject=image)
    response = registry.push_image(sbom, sbom.digest)
    assert response.headers["OCI-Subject"] == image.digest
    registry.push_image(signature, signature.digest)
    response = registry.request("GET", f"/v2/alice/libs/app/referrers/{image.digest}")
    assert response.status_code == 200 and response.headers["Content-Type"] == OCI_INDEX
    document = response.get_json()
    assert document["mediaType"] == OCI_INDEX
    assert document["manifests"] == [
        {"mediaType": sbom.media_type, "digest": sbom.digest, "size": len(sbom.manifest),
         "artifactType": "application/vnd.example.sbom", "annotations": {"org.example": "1"}},
        {"mediaType": signature.media_type, "digest": signature.digest, "size": len(signature.manifest),
         "artifactType": "application/vnd.example.signature"}]
    response = registry.request("GET", f"/v2/alice/libs/app/referrers/{image.digest}"
                                       "?artifactType=application/vnd.example.signature")
    assert [m["digest"] for m in response.get_json()["manifests"]] == [signature.digest]
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    assert registry.request("GET", f"/v2/alice/libs/app/referrers/{digest_of(b'x')}").get_json()["manifests"] == []


def test_referrers_of_an_image_nothing_was_pushed_to_are_an_empty_index(registry):
    response = registry.request("GET", f"/v2/alice/libs/never-pushed/referrers/{digest_of(b'x')}")
    assert response.status_code == 200 and response.headers["Content-Type"] == OCI_INDEX
    assert response.get_json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    assert registry.request("GET", "/v2/alice/libs/app/referrers/sha256:nothex").status_code == 400


# ---- deletes --------------------------------------------------------------------------------------------


def test_deleting_a_tag_a_manifest_and_a_blob(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    registry.put_manifest("v2", image.manifest, image.media_type)
    assert registry.request("DELETE", "/v2/alice/libs/app/manifests/v2").status_code == 202
    assert registry.request("GET", "/v2/alice/libs/app/tags/list").get_json()["tags"] == ["v1"]
    assert error_code(registry.request("DELETE", "/v2/alice/libs/app/manifests/v2")) == "MANIFEST_UNKNOWN"
    assert registry.request("DELETE", f"/v2/alice/libs/app/manifests/{image.digest}").status_code == 202
    assert error_code(registry.request("GET", f"/v2/alice/libs/app/manifests/{image.digest}")) == "MANIFEST_UNKNOWN"
    assert registry.request("GET", "/v2/alice/libs/app/tags/list").get_json()["tags"] == []
    layer = digest_of(image.blobs[1])
    assert registry.request("DELETE", f"/v2/alice/libs/app/blobs/{layer}").status_code == 202
    assert error_code(registry.request("GET", f"/v2/alice/libs/app/blobs/{layer}")) == "BLOB_UNKNOWN"
    assert error_code(registry.request("DELETE", f"/v2/alice/libs/app/blobs/{layer}")) == "BLOB_UNKNOWN"
    # Pushing the same image again brings the deleted manifest back.
    registry.push_image(image, "v1")
    assert registry.request("GET", "/v2/alice/libs/app/manifests/v1").data == image.manifest


# ---- cleanup --------------------------------------------------------------------------------------------


def test_abandoned_uploads_and_unused_staged_blobs_are_purged(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    registry.push_blob(b"orphan layer")
    start(registry)
    registry.request("PATCH", start(registry), data=b"partial")
    long_ago = utcnow() - dt.timedelta(days=2)
    BlobUpload.update(updated_at=long_ago).execute()
    StagedBlob.update(created_at=long_ago).execute()
    assert service.purge_abandoned_uploads(service.UPLOAD_EXPIRY) == 2
    assert not [f for f in registry.files() if f.startswith("uploads/")]
    assert service.purge_unused_staged_blobs(service.STAGED_BLOB_EXPIRY) == 1
    assert registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(b'orphan layer')}").status_code == 404
    for blob in image.blobs:
        assert registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(blob)}").status_code == 200
    # Unstaged, the orphan layer's bytes are referred to by nothing: the blob collection removes them.
    orphan = digest_of(b"orphan layer").removeprefix("sha256:")
    Blob.update(created_at=long_ago).execute()
    assert service.collect_unreferenced_blobs() == 1
    assert Blob.get_or_none(Blob.sha256 == orphan) is None
    assert not [f for f in registry.files() if f.endswith(orphan)]


def test_a_deleted_manifest_that_can_be_restored_keeps_its_layers_staged(registry):
    image = build_image([random_bytes(10)])
    registry.push_image(image, "v1")
    assert registry.request("DELETE", f"/v2/alice/libs/app/manifests/{image.digest}").status_code == 202
    StagedBlob.update(created_at=utcnow() - dt.timedelta(days=2)).execute()
    Blob.update(created_at=utcnow() - dt.timedelta(days=2)).execute()
    assert service.purge_unused_staged_blobs(service.STAGED_BLOB_EXPIRY) == 0
    assert service.collect_unreferenced_blobs() == 0
    for blob in image.blobs:
        assert registry.request("GET", f"/v2/alice/libs/app/blobs/{digest_of(blob)}").status_code == 200


def test_a_tag_moves_to_the_manifest_pushed_last(registry):
    first, second = build_image([random_bytes(10)]), build_image([random_bytes(10)])
    registry.push_image(first, "latest")
    registry.push_image(second, "latest")
    got = registry.request("GET", "/v2/alice/libs/app/manifests/latest")
    assert got.headers["Docker-Content-Digest"] == second.digest
    # The first manifest is still there by digest.
    assert registry.request("GET", f"/v2/alice/libs/app/manifests/{first.digest}").data == first.manifest


def test_a_push_to_a_repository_that_does_not_exist_says_which_to_create(registry):
    response = registry.push_blob(random_bytes(10), "alice/nope/app")
    error = response.get_json()["errors"][0]
    assert (response.status_code, error["code"]) == (404, "NAME_UNKNOWN")
    # skopeo and docker print the message and drop the detail: both name the repository.
    assert "`appliance repos create alice/nope`" in error["message"]
    assert error["detail"]["repository"] == "alice/nope"
    # A repository the caller cannot see is answered the same, names aside.
    create_repository(create_user("bob"), "secret", "private")
    hidden = registry.push_blob(random_bytes(10), "bob/secret/app").get_json()["errors"][0]
    assert hidden["message"].replace("bob/secret", "alice/nope") == error["message"]


def test_a_layer_holding_a_token_of_this_appliance_is_refused_naming_the_file(registry):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as layer:
        data = f"//npm.localhost/:_authToken={registry.token}\n".encode()
        info = tarfile.TarInfo("root/.npmrc")
        info.size = len(data)
        layer.addfile(info, io.BytesIO(data))
    before = (registry.files(), registry.rows())
    for response in (registry.push_blob(buffer.getvalue()),):
        error = response.get_json()["errors"][0]
        assert (response.status_code, error["code"]) == (403, "DENIED")
        assert f"the layer {digest_of(buffer.getvalue())}: root/.npmrc holds a token of this appliance" \
            in error["message"]
    assert (registry.files(), registry.rows()) == before


def test_switched_off_the_ping_and_token_answer_and_the_next_request_says_why(registry):
    """Docker clients print only the status of a refused ping; the reason must come after it."""
    store_setting("formats.docker.enabled", False)
    assert registry.request("GET", "/v2/").status_code == 200
    assert registry.request("GET", "/token").status_code == 200
    response = registry.request("GET", "/v2/alice/libs/app/manifests/v1", auth=bearer(registry.token))
    assert response.status_code == 403 and error_code(response) == "DENIED"
    assert "the docker registry is switched off" in response.get_json()["errors"][0]["message"]


def test_a_catalog_without_n_is_paged_at_the_most_a_page_holds(registry, monkeypatch):
    monkeypatch.setattr(docker_blueprint, "CATALOG_PAGE_MAX", 2)
    for name in ("a", "b", "c"):
        registry.push_image(build_image([random_bytes(10)]), "v1", f"alice/libs/{name}")
    page = registry.request("GET", "/v2/_catalog")
    assert page.get_json() == {"repositories": ["alice/libs/a", "alice/libs/b"]}
    assert page.headers["Link"] == '</v2/_catalog?n=2&last=alice/libs/b>; rel="next"'
    page = registry.request("GET", "/v2/_catalog?n=50&last=alice/libs/b")
    assert page.get_json() == {"repositories": ["alice/libs/c"]} and "Link" not in page.headers
