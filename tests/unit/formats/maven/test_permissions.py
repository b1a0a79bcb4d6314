"""Who may do what with Maven packages: GET (R), PUT (W) and DELETE of a version (D), for every kind of
actor, on a public, a private and an internal repository, with `anonymous_read` on and off.

The expected answers are DESIGN.md's "Who may do what" written out cell by cell in
tests/support/permission_matrix.py.
"""

from __future__ import annotations

import pytest

from appliance.models import Package, PackageVersion
from appliance.settings import store_setting
from tests.support.maven_http import basic, footprint, jar_bytes, pom_bytes
from tests.support.permission_matrix import (
    ACTIONS,
    ACTORS,
    MATRIX,
    REPOSITORIES,
    ROLE_NAMED,
    SCOPE_NAMED,
    VISIBILITIES,
    matrix_world,
)


def group(visibility: str) -> str:
    """Packages are unique per owner, so each repository holds its own group."""
    return f"com.acme.{visibility}"


def lib_dir(visibility: str) -> str:
    return f"{group(visibility).replace('.', '/')}/lib"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One appliance for the module: the organization acme with a repository per visibility, and a
    token per actor (per repository for job tokens)."""
    with matrix_world(tmp_path_factory, "maven-permissions",
                      {"hostname": "localhost", "subdomain_isolation": False}) as world:
        client, tokens = world.client, world.tokens
        admin = tokens["site-admin", "public"]
        for visibility in REPOSITORIES:
            response = client.put(
                _url(visibility, f"{lib_dir(visibility)}/1.0/lib-1.0.pom"),
                data=pom_bytes(group(visibility), "lib", "1.0"),
                headers=_headers(admin),
            )
            assert response.status_code == 201
        yield client, tokens, world.storage_path


def _headers(secret: str | None) -> dict[str, str]:
    headers = {"Host": "localhost"}
    if secret is not None:
        headers.update(basic("user", secret))
    return headers


def _url(visibility: str, path: str) -> str:
    return f"/_registry/maven/acme/{REPOSITORIES[visibility]}/{path}"


def _version(visibility: str, version: str):
    package = Package.get_or_none(
        (Package.name == f"{group(visibility)}:lib")
        & Package.deleted_at.is_null()
        & (Package.repository == _repository_id(visibility))
    )
    if package is None:
        return None
    return PackageVersion.get_or_none(
        (PackageVersion.package == package.id) & (PackageVersion.version == version)
    )


def _repository_id(visibility: str) -> int:
    from appliance.accounts.service import find_repository

    return find_repository("acme", REPOSITORIES[visibility]).id


def _check_refusal(response, code: str, action: str, visibility: str, missing) -> None:
    if code == "401":
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        assert (response.status, response.data) == (missing.status, missing.data)
    elif code == "404":
        assert response.status_code == 404
        assert (response.status, response.data) == (missing.status, missing.data)
    elif code == "403s":
        assert response.status_code == 403
        assert f"it needs {SCOPE_NAMED[action]}" in response.status
    else:
        assert response.status_code == 403
        assert ROLE_NAMED[action].format(repo=REPOSITORIES[visibility]) in response.status


CELLS = [
    (anonymous_read, actor, visibility, action)
    for anonymous_read in (True, False)
    for actor in ACTORS
    for visibility in VISIBILITIES
    for action in ACTIONS
]


@pytest.mark.parametrize(
    ("anonymous_read", "actor", "visibility", "action"),
    CELLS,
    ids=[f"{'anon-read-on' if a else 'anon-read-off'}-{b}-{c}-{d}" for a, b, c, d in CELLS],
)
def test_matrix(world, anonymous_read, actor, visibility, action):
    client, tokens, storage_root = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, action]
    secret = tokens[actor, visibility]
    headers = _headers(secret)
    lib = lib_dir(visibility)
    cell = f"{actor}-{visibility}-{'on' if anonymous_read else 'off'}".replace("-", "x")

    if action == "R":
        response = client.get(_url(visibility, f"{lib}/1.0/lib-1.0.pom"), headers=headers)
        missing = client.get(_url(visibility, f"{lib}/9.9/lib-9.9.pom"), headers=headers)
        if code == "ok":
            assert response.status_code == 200
            assert response.data == pom_bytes(group(visibility), "lib", "1.0")
        else:
            _check_refusal(response, code, action, visibility, missing)
            if code in ("401", "404"):
                # The same answer as for a repository that does not exist at all.
                nowhere = client.get(
                    f"/_registry/maven/acme/no-such-repo/{lib}/1.0/lib-1.0.pom", headers=headers
                )
                assert (nowhere.status_code, nowhere.data) == (response.status_code, response.data)
        return

    if action == "W":
        version = f"1.{cell}"
        before = footprint(storage_root)
        response = client.put(
            _url(visibility, f"{lib}/{version}/lib-{version}.jar"), data=jar_bytes(cell), headers=headers
        )
        if code == "ok":
            assert response.status_code == 201
            assert _version(visibility, version) is not None
        else:
            missing = client.put(
                f"/_registry/maven/acme/{REPOSITORIES[visibility]}x/{lib}/{version}/lib-{version}.jar",
                data=jar_bytes(cell),
                headers=headers,
            )
            if code == "404":
                # A deploy is answered 403 where reading gets 404 (mvn prints only a 403's reason
                # phrase), the same answer as for a repository that does not exist.
                assert response.status_code == 403 == missing.status_code
                assert response.status.replace(REPOSITORIES[visibility], "X") == missing.status.replace(
                    f"{REPOSITORIES[visibility]}x", "X"
                )
            elif code == "401":
                assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith(
                    "Basic "
                )
                assert (response.status, response.data) == (missing.status, missing.data)
            else:
                _check_refusal(response, code, action, visibility, missing)
            assert footprint(storage_root) == before
        return

    version = f"2.{cell}"
    admin_headers = _headers(tokens["site-admin", visibility])
    arranged = client.put(
        _url(visibility, f"{lib}/{version}/lib-{version}.pom"),
        data=pom_bytes(group(visibility), "lib", version),
        headers=admin_headers,
    )
    assert arranged.status_code == 201
    response = client.delete(_url(visibility, f"{lib}/{version}/"), headers=headers)
    if code == "ok":
        assert response.status_code == 204
        assert _version(visibility, version).deleted_at is not None
    else:
        missing = client.delete(_url(visibility, f"{lib}/9.{cell}/"), headers=headers)
        if code == "404":
            assert response.status_code == 404 == missing.status_code
        elif code == "401":
            assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic ")
        else:
            _check_refusal(response, code, action, visibility, missing)
        assert _version(visibility, version).deleted_at is None


BROWSED = {"directory listing": lambda v: f"{lib_dir(v)}/", "repository root": lambda v: "",
           "group metadata": lambda v: f"{group(v).replace('.', '/')}/maven-metadata.xml"}


@pytest.mark.parametrize("what", BROWSED)
@pytest.mark.parametrize(
    ("anonymous_read", "actor", "visibility"),
    [(a, b, c) for a in (True, False) for b in ACTORS for c in VISIBILITIES],
    ids=[f"{'anon-read-on' if a else 'anon-read-off'}-{b}-{c}" for a in (True, False) for b in ACTORS
         for c in VISIBILITIES],
)
def test_browsing_follows_the_read_column(world, anonymous_read, actor, visibility, what):
    """Directory listings and group metadata are reads: the R cells of the matrix, refusals answered
    as for a repository that does not exist."""
    client, tokens, _ = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, "R"]
    headers = _headers(tokens[actor, visibility])
    response = client.get(_url(visibility, BROWSED[what](visibility)), headers=headers)
    if code == "ok":
        # The group holds no plugin: its metadata is not there, for those who may look.
        assert response.status_code == (404 if what == "group metadata" else 200), response.data
        return
    missing = client.get(f"/_registry/maven/acme/no-such-repo/{BROWSED[what](visibility)}", headers=headers)
    _check_refusal(response, code, "R", visibility, missing)
