"""Who may do what with NuGet packages: every restore endpoint (R: flat container versions, .nupkg,
.nuspec, registration index and leaf, search, autocomplete, the v2 Search()), push and symbol push (W)
and nuget delete and relist (D), for every kind of actor, on a public, a private and an internal
repository, with `anonymous_read` on and off.

The expected answers are DESIGN.md's "Who may do what" written out cell by cell in
tests/support/permission_matrix.py.
"""

from __future__ import annotations

import json

import pytest

from appliance.models import Package, PackageVersion
from appliance.settings import store_setting
from tests.support.maven_http import footprint
from tests.support.nuget import multipart, nupkg_bytes
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


def package_id(visibility: str) -> str:
    return f"Perm.{visibility.title()}"


def nupkg(visibility: str, version: str) -> bytes:
    return nupkg_bytes(package_id(visibility), version,
                       repository_url=f"https://example.com/acme/{REPOSITORIES[visibility]}")


def read_paths(visibility: str, package: str | None = None) -> list[str]:
    """Every restore endpoint of version 1.0.0 of the package."""
    lower = (package or package_id(visibility)).lower()
    return [
        f"v3/flatcontainer/{lower}/index.json",
        f"v3/flatcontainer/{lower}/1.0.0/{lower}.1.0.0.nupkg",
        f"v3/flatcontainer/{lower}/1.0.0/{lower}.nuspec",
        f"v3/registration/{lower}/index.json",
        f"v3/registration/{lower}/1.0.0.json",
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One appliance for the module: the organization acme with a repository per visibility, a package
    in each, and a token per actor (per repository for job tokens)."""
    with matrix_world(tmp_path_factory, "nuget-permissions",
                      {"hostname": "localhost", "subdomain_isolation": False}) as world:
        client, tokens = world.client, world.tokens
        for visibility in REPOSITORIES:
            response = _push(client, tokens["site-admin", visibility], nupkg(visibility, "1.0.0"))
            assert response.status_code == 201, response.status
        yield client, tokens, world.storage_path


def _headers(secret: str | None) -> dict[str, str]:
    headers = {"Host": "localhost"}
    if secret is not None:
        headers["X-NuGet-ApiKey"] = secret
    return headers


def _url(path: str) -> str:
    return f"/_registry/nuget/acme/{path}"


def _push(client, secret, data, path="api/v2/package"):
    body, content_type = multipart(data)
    return client.put(_url(path), data=body, content_type=content_type, headers=_headers(secret))


def _version(visibility: str, version: str) -> PackageVersion | None:
    package = Package.get(Package.lower_name == package_id(visibility).lower())
    return PackageVersion.get_or_none((PackageVersion.package == package.id) & (PackageVersion.version == version))


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


CELLS = [(anonymous_read, actor, visibility, action)
         for anonymous_read in (True, False) for actor in ACTORS for visibility in VISIBILITIES for action in ACTIONS]


@pytest.mark.parametrize(
    ("anonymous_read", "actor", "visibility", "action"), CELLS,
    ids=[f"{'anon-read-on' if a else 'anon-read-off'}-{b}-{c}-{d}" for a, b, c, d in CELLS])
def test_matrix(world, anonymous_read, actor, visibility, action):
    client, tokens, storage_root = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, action]
    secret = tokens[actor, visibility]
    headers = _headers(secret)
    cell = f"{actor}-{visibility}-{'on' if anonymous_read else 'off'}".replace("-", "x")

    if action == "R":
        for path, missing_path in zip(read_paths(visibility), read_paths(visibility, "No.Such.Package")):
            response = client.get(_url(path), headers=headers)
            if code == "ok":
                assert response.status_code == 200, (path, response.status)
            else:
                _check_refusal(response, code, action, visibility, client.get(_url(missing_path), headers=headers))
        search = client.get(_url("query?q=perm"), headers=headers)
        autocomplete = client.get(_url(f"autocomplete?id={package_id(visibility)}"), headers=headers)
        legacy = client.get(_url("api/v2/Search()?searchTerm='perm'"), headers=headers)
        if secret is None or code == "401":
            # Searches challenge anonymous callers always (nuget sends credentials only when challenged).
            assert search.status_code == 401 == autocomplete.status_code == legacy.status_code
        elif code == "403s":
            # A token that may read nothing is told what it lacks rather than shown an empty feed.
            assert search.status_code == 403 == legacy.status_code
            assert f"it needs {SCOPE_NAMED['R']}" in search.status and f"it needs {SCOPE_NAMED['R']}" in legacy.status
            assert (autocomplete.status_code, json.loads(autocomplete.data)["data"]) == (200, [])
        else:
            assert search.status_code == 200 == autocomplete.status_code == legacy.status_code
            listed = package_id(visibility) in [d["id"] for d in json.loads(search.data)["data"]]
            assert listed == (code == "ok")
            assert json.loads(autocomplete.data)["data"] == (["1.0.0"] if code == "ok" else [])
            assert (f"<ns0:title>{package_id(visibility)}</ns0:title>" in legacy.data.decode()) == (code == "ok")
        return

    if action == "W":
        version = f"1.1.0-{cell}"
        before = footprint(storage_root)
        response = _push(client, secret, nupkg(visibility, version))
        symbols = _push(client, secret, nupkg_bytes(package_id(visibility), "1.0.0" if code != "ok" else version,
                                                    package_type="SymbolsPackage"), "api/v2/symbolpackage")
        if code == "ok":
            assert response.status_code == 201, response.status
            assert symbols.status_code == 201, symbols.status
            assert _version(visibility, version) is not None
        elif code == "404":
            # Answered as a push of an id nobody took: the repository it names cannot be seen.
            fresh = _push(client, secret, nupkg_bytes("No.Such.Package", version,
                                                      repository_url=f"https://example.com/acme/{REPOSITORIES[visibility]}"))
            assert response.status_code == 400
            assert (response.status, response.data) == (fresh.status, fresh.data)
            assert (symbols.status_code, symbols.status) == (404, "404 Not Found")
            assert footprint(storage_root) == before
        else:
            assert (symbols.status_code, symbols.headers.get("WWW-Authenticate")) == (
                response.status_code, response.headers.get("WWW-Authenticate"))
            if code == "403s":
                assert response.status_code == 403 and "it needs write:packages" in response.status
            elif code == "403r":
                assert response.status_code == 403
                assert ROLE_NAMED["W"].format(repo=REPOSITORIES[visibility]) in response.status
            else:
                assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic ")
            assert footprint(storage_root) == before
        return

    version = f"2.0.0-{cell}"
    assert _push(client, tokens["site-admin", visibility], nupkg(visibility, version)).status_code == 201
    response = client.delete(_url(f"api/v2/package/{package_id(visibility)}/{version}"), headers=headers)
    if code == "ok":
        assert response.status_code == 204
        assert json.loads(_version(visibility, version).metadata)["listed"] is False
        relisted = client.post(_url(f"api/v2/package/{package_id(visibility)}/{version}"), headers=headers)
        assert relisted.status_code == 200
        assert json.loads(_version(visibility, version).metadata)["listed"] is True
    else:
        missing = client.delete(_url(f"api/v2/package/No.Such.Package/{version}"), headers=headers)
        _check_refusal(response, code, action, visibility, missing)
        relist = client.post(_url(f"api/v2/package/{package_id(visibility)}/{version}"), headers=headers)
        assert relist.status_code == response.status_code
        assert json.loads(_version(visibility, version).metadata)["listed"] is True
