"""DESIGN.md's "Who may do what" over every REST route and every GraphQL field that reaches a package,
for every actor of tests/support/permission_matrix.py, on a public, a private and an internal repository,
with `anonymous_read` on and off. The REST API answers each cell as the registries do; two differences
are GitHub's own and written out here: GraphQL takes no anonymous request (401 where the table says
ok), and a deleted package or version is not found (404) by whoever may not restore it, so restoring
it without the rights is a 404 rather than a 403."""
from __future__ import annotations

import pytest

from appliance import packages as service
from appliance.auth.permissions import Actor
from appliance.github.urls import node_id
from appliance.models import Account, Package, PackageVersion
from appliance.settings import store_setting
from tests.support.permission_matrix import (
    ACTORS,
    BAD_CREDENTIALS,
    MATRIX,
    REPOSITORIES,
    ROLE_NAMED,
    SCOPE_NAMED,
    VISIBILITIES,
    matrix_world,
)
from tests.unit.api.conftest import publish


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with matrix_world(tmp_path_factory, "api-permissions",
                      {"api.rate_limit": 0, "api.anonymous_rate_limit": 0}) as world, world.app.test_request_context():
        maint = Account.get(Account.login == "maint")
        for repo in REPOSITORIES.values():
            publish(maint, "acme", "npm", f"@acme/{repo}", "1.0.0", repo)
        admin = Actor(user=Account.get(Account.login == "site-admin"))
        yield world.client, world.tokens, admin


def headers(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"token {secret}"} if secret is not None else {}


def package_path(visibility: str) -> str:
    return f"/api/v3/orgs/acme/packages/npm/@acme%2F{REPOSITORIES[visibility]}"


def rows(visibility: str) -> tuple[Package, PackageVersion]:
    package = Package.get(Package.name == f"@acme/{REPOSITORIES[visibility]}")
    return package, PackageVersion.get(PackageVersion.package == package.id)


def check(response, code: str, action: str, visibility: str, *, ok: int) -> None:
    body = response.get_json(silent=True)
    if code == "ok":
        assert response.status_code == ok, (response.status_code, body)
    elif code == "401":
        expected = "Bad credentials" if body and body["message"] == "Bad credentials" else "Requires authentication"
        assert response.status_code == 401 and body["message"] == expected
    elif code == "404":
        assert response.status_code == 404 and body["message"] == "Not Found"
    elif code == "403s":
        assert response.status_code == 403, (response.status_code, body)
        assert "it needs " in body["message"] and "scope" in body["message"]
    else:
        assert response.status_code == 403, (response.status_code, body)
        assert ROLE_NAMED[action].format(repo=REPOSITORIES[visibility]) in body["message"]


CELLS = [(anonymous_read, actor, visibility) for anonymous_read in (True, False) for actor in ACTORS
         for visibility in VISIBILITIES]
IDS = [f"{'on' if a else 'off'}-{b}-{c}" for a, b, c in CELLS]


@pytest.mark.parametrize(("anonymous_read", "actor", "visibility"), CELLS, ids=IDS)
def test_rest_reading(world, anonymous_read, actor, visibility):
    client, tokens, _ = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, "R"]
    sent = headers(tokens[actor, visibility])
    _, version = rows(visibility)
    base = package_path(visibility)
    for path in (base, f"{base}/versions", f"{base}/versions/{version.id}"):
        check(client.get(path, headers=sent), code, "R", visibility, ok=200)
    listed = client.get("/api/v3/orgs/acme/packages?package_type=npm", headers=sent)
    names = [p["name"] for p in listed.get_json()] if listed.status_code == 200 else None
    if code == "ok":
        assert f"@acme/{REPOSITORIES[visibility]}" in names
    elif code == "403s" or actor in BAD_CREDENTIALS:
        check(listed, code, "R", visibility, ok=200)
    else:
        assert names is None or f"@acme/{REPOSITORIES[visibility]}" not in names


DELETE_CELLS = [(actor, visibility) for actor in ACTORS for visibility in VISIBILITIES]


@pytest.mark.parametrize(("actor", "visibility"), DELETE_CELLS, ids=[f"{a}-{v}" for a, v in DELETE_CELLS])
def test_rest_deleting_and_restoring(world, actor, visibility):
    client, tokens, admin = world
    store_setting("anonymous_read", True)
    code = MATRIX[True][actor, visibility, "D"]
    sent = headers(tokens[actor, visibility])
    base = package_path(visibility)
    package, version = rows(visibility)

    check(client.delete(f"{base}/versions/{version.id}", headers=sent), code, "D", visibility, ok=204)
    version = PackageVersion.get_by_id(version.id)
    assert (version.deleted_at is not None) == (code == "ok")
    if version.deleted_at is None:
        service.delete_version(admin, version)
    # A deleted version is hidden from whoever may read but not restore it; a token that may not even
    # read is told so first.
    hidden = "404" if code == "403r" or (code == "403s" and actor != "no-scopes") else code
    check(client.post(f"{base}/versions/{version.id}/restore", headers=sent), hidden, "D", visibility, ok=204)
    if PackageVersion.get_by_id(version.id).deleted_at is not None:
        service.restore_version(admin, PackageVersion.get_by_id(version.id))

    check(client.delete(base, headers=sent), code, "D", visibility, ok=204)
    package = Package.get_by_id(package.id)
    assert (package.deleted_at is not None) == (code == "ok")
    if package.deleted_at is None:
        service.delete_package(admin, package)
    check(client.post(f"{base}/restore", headers=sent), hidden, "D", visibility, ok=204)
    if Package.get_by_id(package.id).deleted_at is not None:
        service.restore_package(admin, Package.get_by_id(package.id))


def graphql(client, sent, query: str, **variables):
    return client.post("/api/graphql", json={"query": query, "variables": variables}, headers=sent)


READ_QUERY = """query($repo: String!) { repository(owner: "acme", name: $repo) {
  packages(first: 5) { nodes { name latestVersion { version } versions(first: 5) { totalCount } } } } }"""


@pytest.mark.parametrize(("anonymous_read", "actor", "visibility"), CELLS, ids=IDS)
def test_graphql_reading(world, anonymous_read, actor, visibility):
    client, tokens, _ = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, "R"]
    sent = headers(tokens[actor, visibility])
    response = graphql(client, sent, READ_QUERY, repo=REPOSITORIES[visibility])
    if actor == "anonymous" or code == "401":
        assert response.status_code == 401
        return
    body = response.get_json()
    if code == "ok":
        (node,) = body["data"]["repository"]["packages"]["nodes"]
        assert node["latestVersion"]["version"] == "1.0.0" and node["versions"]["totalCount"] == 1
    elif code == "404":
        assert body["data"]["repository"] is None and body["errors"][0]["type"] == "NOT_FOUND"
    else:
        assert body["errors"][0]["type"] == "INSUFFICIENT_SCOPES"
        assert SCOPE_NAMED["R"] in body["errors"][0]["message"]


MUTATION = """mutation($id: ID!) { deletePackageVersion(input: {packageVersionId: $id}) { success } }"""


@pytest.mark.parametrize(("actor", "visibility"), DELETE_CELLS, ids=[f"{a}-{v}" for a, v in DELETE_CELLS])
def test_graphql_deleting(world, actor, visibility):
    client, tokens, admin = world
    store_setting("anonymous_read", True)
    code = MATRIX[True][actor, visibility, "D"]
    _, version = rows(visibility)
    response = graphql(client, headers(tokens[actor, visibility]), MUTATION,
                       id=node_id("PackageVersion", version.id))
    deleted = PackageVersion.get_by_id(version.id).deleted_at is not None
    if deleted:
        service.restore_version(admin, PackageVersion.get_by_id(version.id))
    if actor == "anonymous" or code == "401":
        assert response.status_code == 401 and not deleted
        return
    body = response.get_json()
    assert deleted == (code == "ok")
    if code == "ok":
        assert body["data"]["deletePackageVersion"] == {"success": True}
    else:
        kind = {"404": "NOT_FOUND", "403s": "INSUFFICIENT_SCOPES", "403r": "FORBIDDEN"}[code]
        assert body["errors"][0]["type"] == kind, body
