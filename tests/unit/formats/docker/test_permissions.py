"""Who may do what with images: pull (R), push (W), mount from an image of the same repository (M),
delete a manifest (D), and see an image in the catalog (C), for every kind of actor, on a public, a
private and an internal repository, with `anonymous_read` on and off; and the bearer tokens the token
endpoint grants them, which must match the same table.

The expected answers are DESIGN.md's "Who may do what" written out cell by cell in
tests/support/permission_matrix.py.
"""
from __future__ import annotations

import json
import time

import pytest

from appliance.formats.docker import bearer as bearer_tokens
from appliance.models import PackageVersion, StagedBlob
from appliance.settings import store_setting
from tests.support.oci import build_image, digest_of
from tests.support.permission_matrix import (
    ACTIONS,
    ACTORS,
    BAD_CREDENTIALS,
    MATRIX,
    REPOSITORIES,
    ROLE_NAMED,
    SCOPE_NAMED,
    VISIBILITIES,
    matrix_world,
)
from tests.unit.formats.docker.conftest import basic, bearer

HOST = "docker.appliance.test"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """acme with a repository per visibility, each holding acme/REPO/app:v1; a token per actor."""
    with matrix_world(tmp_path_factory, "docker-permissions",
                      {"hostname": "appliance.test", "subdomain_isolation": True}) as world:
        admin = _headers(world.tokens["site-admin", "public"])
        for visibility in REPOSITORIES:
            _push(world.client, admin, f"{_image(visibility)}", build_image([visibility.encode()]), "v1")
        yield world.client, world.tokens, world.storage_path, bearer_tokens.signing_key(world.secret_key)


def _headers(secret: str | None) -> dict[str, str]:
    headers = {"Host": HOST}
    if secret is not None:
        headers.update(basic("user", secret))
    return headers


def _image(visibility: str, name: str | None = None) -> str:
    """Images are packages, unique per owner: each repository has its own."""
    return f"acme/{REPOSITORIES[visibility]}/{name or 'app-' + visibility}"


def _push(client, headers, image: str, built, tag: str) -> None:
    for blob in built.blobs:
        response = client.post(f"/v2/{image}/blobs/uploads/?digest={digest_of(blob)}", data=blob, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    response = client.put(f"/v2/{image}/manifests/{tag}", data=built.manifest,
                          headers={**headers, "Content-Type": built.media_type})
    assert response.status_code == 201, response.get_data(as_text=True)


def _check_refusal(response, code: str, action: str, visibility: str, missing) -> None:
    errors = response.get_json()["errors"]
    if code == "401":
        assert response.status_code == 401 and errors[0]["code"] == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="http://docker.appliance.test/token"')
        assert missing.status_code == 401
    elif code == "404":
        assert response.status_code == 404 and errors[0]["code"] == "NAME_UNKNOWN"
        assert missing.status_code == 404 and missing.get_json()["errors"][0]["code"] == "NAME_UNKNOWN"
    elif code == "403s":
        assert response.status_code == 403 and errors[0]["code"] == "DENIED"
        assert f"it needs {SCOPE_NAMED[action]}" in errors[0]["message"]
    else:
        assert response.status_code == 403 and errors[0]["code"] == "DENIED"
        assert ROLE_NAMED[action].format(repo=REPOSITORIES[visibility]) in errors[0]["message"]


CELLS = [(anonymous_read, actor, visibility, action) for anonymous_read in (True, False) for actor in ACTORS
         for visibility in VISIBILITIES for action in ACTIONS]


@pytest.mark.parametrize(("anonymous_read", "actor", "visibility", "action"), CELLS,
                         ids=[f"{'anon-read-on' if a else 'anon-read-off'}-{b}-{c}-{d}" for a, b, c, d in CELLS])
def test_matrix(world, anonymous_read, actor, visibility, action):
    client, tokens, storage_root, _ = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, action]
    headers = _headers(tokens[actor, visibility])
    cell = f"{actor}-{visibility}-{'on' if anonymous_read else 'off'}"
    nowhere = f"acme/no-such-repo-{visibility}/app"

    if action == "R":
        response = client.get(f"/v2/{_image(visibility)}/manifests/v1", headers=headers)
        if code == "ok":
            assert response.status_code == 200 and response.data == build_image([visibility.encode()]).manifest
        else:
            _check_refusal(response, code, action, visibility,
                           client.get(f"/v2/{nowhere}/manifests/v1", headers=headers))
        return

    if action == "W":
        data = cell.encode()
        response = client.post(f"/v2/{_image(visibility)}/blobs/uploads/?digest={digest_of(data)}", data=data,
                               headers=headers)
        # A mount from another image of the same repository needs the same.
        layer = digest_of(build_image([visibility.encode()]).blobs[1])
        mount = client.post(f"/v2/{_image(visibility, 'copy-' + cell)}/blobs/uploads/?mount={layer}"
                            f"&from={_image(visibility)}", headers=headers)
        staged = StagedBlob.select().where(StagedBlob.package_name == f"copy-{cell}").count()
        if code == "ok":
            assert response.status_code == 201 and mount.status_code == 201 and staged == 1
        else:
            missing = client.post(f"/v2/{nowhere}/blobs/uploads/?digest={digest_of(data)}", data=data,
                                  headers=headers)
            _check_refusal(response, code, action, visibility, missing)
            _check_refusal(mount, code, action, visibility, missing)
            assert staged == 0
            assert not (storage_root / "blobs" / "sha256" / digest_of(data)[7:9] / digest_of(data)[7:]).exists()
        return

    built = build_image([cell.encode()])
    _push(client, _headers(tokens["site-admin", visibility]), _image(visibility), built, built.digest)
    response = client.delete(f"/v2/{_image(visibility)}/manifests/{built.digest}", headers=headers)
    version = PackageVersion.get(PackageVersion.version == built.digest)
    if code == "ok":
        assert response.status_code == 202 and version.deleted_at is not None
    else:
        _check_refusal(response, code, action, visibility,
                       client.delete(f"/v2/{nowhere}/manifests/{built.digest}", headers=headers))
        assert version.deleted_at is None


@pytest.mark.parametrize("anonymous_read", (True, False))
@pytest.mark.parametrize("actor", ACTORS)
def test_the_token_endpoint_grants_exactly_the_allowed_actions(world, anonymous_read, actor):
    client, tokens, _, key = world
    store_setting("anonymous_read", anonymous_read)
    for visibility in VISIBILITIES:
        scope = f"repository:{_image(visibility)}:pull,push,delete"
        response = client.get(f"/token?service={HOST}&scope={scope}", headers=_headers(tokens[actor, visibility]))
        if actor in BAD_CREDENTIALS:
            assert response.status_code == 401
            continue
        assert response.status_code == 200
        grant = bearer_tokens.verify(key, response.get_json()["token"], time.time())
        expected = {verb for verb, action in (("pull", "R"), ("push", "W"), ("delete", "D"))
                    if MATRIX[anonymous_read][actor, visibility, action] == "ok"}
        assert set(grant.access.get(_image(visibility), ())) == expected, visibility
        # And the registry honours the bearer token as it would the credentials behind it.
        pulled = client.get(f"/v2/{_image(visibility)}/manifests/v1",
                            headers={"Host": HOST, **bearer(response.get_json()["token"])})
        assert (pulled.status_code == 200) == ("pull" in expected)


@pytest.mark.parametrize("anonymous_read", (True, False))
@pytest.mark.parametrize("actor", ACTORS)
def test_the_catalog_lists_the_images_the_actor_may_pull(world, anonymous_read, actor):
    client, tokens, _, _ = world
    store_setting("anonymous_read", anonymous_read)
    response = client.get("/v2/_catalog", headers=_headers(tokens[actor, "public"]))
    if actor in BAD_CREDENTIALS:
        assert response.status_code == 401
        return
    listed = set(json.loads(response.data)["repositories"])
    expected = {_image(v) for v in VISIBILITIES if MATRIX[anonymous_read][actor, v, "R"] == "ok"}
    if actor == "job-own":
        # Each job token reaches its own repository; the one sent here is public's.
        expected = {_image(v) for v in VISIBILITIES if v != "private"}
    assert {name for name in listed if "/app-" in name} == expected


def test_a_mount_from_a_repository_the_caller_cannot_read_uploads_instead(world):
    client, tokens, _, _ = world
    store_setting("anonymous_read", True)
    private_layer = digest_of(build_image([b"private"]).blobs[1])
    headers = _headers(tokens["other-owner", "public"])
    response = client.post(f"/v2/other/own/app/blobs/uploads/?mount={private_layer}&from={_image('private')}",
                           headers=headers)
    assert response.status_code == 202 and "Docker-Upload-UUID" in response.headers
    public_layer = digest_of(build_image([b"public"]).blobs[1])
    response = client.post(f"/v2/other/own/app/blobs/uploads/?mount={public_layer}&from={_image('public')}",
                           headers=headers)
    assert response.status_code == 201
