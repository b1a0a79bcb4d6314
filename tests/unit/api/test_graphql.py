"""GraphQL at /api/graphql: GitHub's package types from repository, user, organization and viewer, Relay
cursors, stable ids, the deletePackageVersion mutation, and the bounds on what one query may ask."""
from __future__ import annotations

import pytest

from appliance import packages as service
from appliance.accounts.service import (
    add_member,
    create_organization,
    create_repository,
    create_user,
    find_account,
)
from appliance.auth import recent
from appliance.auth.tokens import issue_token
from tests.support.queries import Queries

FULL = ["read:packages", "write:packages", "delete:packages", "repo"]


@pytest.fixture
def world(app, publish_as):
    alice = create_user("alice")
    bob = create_user("bob")
    acme = create_organization("acme", alice)
    add_member(acme, bob)
    create_repository(acme, "widgets", "public")
    create_repository(acme, "secret", "private")
    for version in ("1.0.0", "1.1.0", "2.0.0-beta.1"):
        publish_as(alice, "acme", "npm", "@acme/a", version, "widgets", tags=("latest",) if "beta" not in version else ())
    publish_as(alice, "acme", "npm", "@acme/b", "0.1.0", "widgets")
    publish_as(alice, "acme", "npm", "@acme/hidden", "1.0.0", "secret")
    a = service.find_package("acme", "npm", "@acme/a")
    for version in service.live_versions(a)[:2]:
        service.record_download(version)
    return {name: {"Authorization": f"bearer {issue_token(user, scopes)[1]}"}
            for name, user, scopes in [("alice", alice, FULL), ("bob", bob, FULL),
                                       ("alice-read", alice, ["read:packages"]), ("alice-none", alice, ["repo"])]}


def gql(client, headers, query, **variables):
    response = client.post("/api/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


REPOSITORY_PACKAGES = """
query($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    nameWithOwner
    packages(first: $first, after: $after, orderBy: {field: CREATED_AT, direction: DESC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        id name packageType
        statistics { downloadsTotalCount }
        latestVersion { version preRelease files(first: 5) { nodes { name size sha256 updatedAt } } }
        versions(first: 10) { nodes { version preRelease statistics { downloadsTotalCount } } }
      }
    }
  }
}"""


def test_a_repositorys_packages_and_download_counts(client, world):
    body = gql(client, world["bob"], REPOSITORY_PACKAGES, owner="acme", name="widgets", first=1)
    assert "errors" not in body, body
    repository = body["data"]["repository"]
    assert repository["nameWithOwner"] == "acme/widgets"
    connection = repository["packages"]
    assert connection["totalCount"] == 2 and connection["pageInfo"]["hasNextPage"] is True
    (first,) = connection["nodes"]
    rest = gql(client, world["bob"], REPOSITORY_PACKAGES, owner="acme", name="widgets", first=1,
               after=connection["pageInfo"]["endCursor"])["data"]["repository"]["packages"]
    assert rest["pageInfo"]["hasNextPage"] is False
    by_name = {p["name"]: p for p in [first, *rest["nodes"]]}
    a = by_name["@acme/a"]
    assert a["packageType"] == "NPM" and a["statistics"]["downloadsTotalCount"] == 2
    assert a["latestVersion"]["version"] == "1.1.0"
    assert a["latestVersion"]["files"]["nodes"][0]["name"] == "a-1.1.0.tgz"
    assert [v["version"] for v in a["versions"]["nodes"]] == ["2.0.0-beta.1", "1.1.0", "1.0.0"]
    assert [v["preRelease"] for v in a["versions"]["nodes"]] == [True, False, False]
    # Ids are stable: the same object gets the same id in another request.
    again = gql(client, world["alice"], REPOSITORY_PACKAGES, owner="acme", name="widgets", first=2)
    assert a["id"] in [p["id"] for p in again["data"]["repository"]["packages"]["nodes"]]


def test_owners_and_viewer(client, world):
    query = """{ viewer { login packages(first: 10) { totalCount } }
                 organization(login: "acme") { packages(first: 10, packageType: NPM) { nodes { name } } }
                 user(login: "bob") { login } }"""
    data = gql(client, world["alice"], query)["data"]
    assert data["viewer"]["login"] == "alice" and data["user"]["login"] == "bob"
    assert sorted(n["name"] for n in data["organization"]["packages"]["nodes"]) == [
        "@acme/a", "@acme/b", "@acme/hidden"]
    bob = gql(client, world["bob"], query)["data"]
    assert "@acme/hidden" not in [n["name"] for n in bob["organization"]["packages"]["nodes"]]


def test_hidden_repository_is_not_found(client, world):
    body = gql(client, world["bob"], '{ repository(owner: "acme", name: "secret") { name } }')
    assert body["data"]["repository"] is None
    assert body["errors"][0]["type"] == "NOT_FOUND"


def test_scopes_and_anonymous(client, world):
    body = gql(client, world["alice-none"], '{ organization(login: "acme") { packages(first: 1) { totalCount } } }')
    assert body["errors"][0]["type"] == "INSUFFICIENT_SCOPES"
    assert "read:packages" in body["errors"][0]["message"]
    anonymous = client.post("/api/graphql", json={"query": "{ viewer { login } }"})
    assert anonymous.status_code == 401
    assert anonymous.get_json()["message"] == "This endpoint requires you to be authenticated."


def test_delete_package_version(client, world):
    query = '{ repository(owner: "acme", name: "widgets") { packages(first: 1, names: ["@acme/b"]) { nodes { versions(first: 1) { nodes { id } } } } } }'
    version_id = gql(client, world["alice"], query)["data"]["repository"]["packages"]["nodes"][0][
        "versions"]["nodes"][0]["id"]
    mutation = """mutation($id: ID!) { deletePackageVersion(input: {packageVersionId: $id, clientMutationId: "x"}) {
                    success clientMutationId } }"""
    refused = gql(client, world["alice-read"], mutation, id=version_id)
    assert refused["errors"][0]["type"] == "INSUFFICIENT_SCOPES"
    refused = gql(client, world["bob"], mutation, id=version_id)
    assert refused["errors"][0]["type"] == "FORBIDDEN"
    done = gql(client, world["alice"], mutation, id=version_id)
    assert done["data"]["deletePackageVersion"] == {"success": True, "clientMutationId": "x"}
    gone = gql(client, world["alice"], mutation, id=version_id)
    assert gone["errors"][0]["type"] == "NOT_FOUND"


@pytest.mark.parametrize(("query", "kind"), [
    ('{ organization(login: "acme") { packages { totalCount } } }', "MISSING_PAGINATION_BOUNDARIES"),
    ('{ organization(login: "acme") { packages(first: 101) { totalCount } } }', "EXCESSIVE_PAGINATION"),
    (('{ organization(login: "acme") { packages(first: 100) { nodes { versions(first: 100) { nodes {'
      ' files(first: 100) { totalCount } } } } } } }'), "MAX_NODE_LIMIT_EXCEEDED"),
])
def test_query_cost_is_bounded(client, world, query, kind):
    body = gql(client, world["alice"], query)
    assert body["data"] is None and body["errors"][0]["type"] == kind


def test_depth_is_bounded(client, world):
    inner = "name"
    for _ in range(5):
        inner = "packages(first: 1) { nodes { repository { " + inner + " } } }"
    deep = "{ viewer { " + inner + " } }"
    body = gql(client, world["alice"], deep)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


PAGE_WITH_VERSIONS = """
query($first: Int!) {
  organization(login: "acme") {
    packages(first: $first) {
      nodes {
        name statistics { downloadsTotalCount } repository { nameWithOwner }
        latestVersion { version files(first: 5) { nodes { name size sha256 } } }
        version(version: "1.0.0") { version }
        versions(first: 10) { totalCount nodes { version preRelease statistics { downloadsTotalCount }
                                                 files(first: 5) { nodes { name } } } }
        oldest: versions(first: 1, orderBy: {field: CREATED_AT, direction: ASC}) { nodes { version } }
      }
    }
  }
}"""


def test_a_page_of_packages_with_their_versions_is_a_fixed_number_of_queries(app, client, world, publish_as):
    """Versions, latest versions and versions by name are loaded for the whole page at once (no N+1)."""
    # the token and role lookups a request makes are kept past the second a slow page may take
    app.extensions[recent.EXTENSION] = recent.RecentAnswers(lifetime=3600)
    alice = find_account("alice")
    for n in range(47):  # with @acme/a, @acme/b and @acme/hidden (in acme/secret): 50
        for version in ("1.0.0", "1.1.0"):
            publish_as(alice, "acme", "npm", f"@acme/many-{n}", version, "widgets", tags=("latest",))

    def page(first: int) -> tuple[dict, int]:
        gql(client, world["alice"], PAGE_WITH_VERSIONS, first=first)  # the token's lookup is then kept
        with Queries() as queries:
            answer = gql(client, world["alice"], PAGE_WITH_VERSIONS, first=first)
        assert "errors" not in answer, answer["errors"]
        return answer, queries.count

    _, few_queries = page(2)
    many, many_queries = page(50)
    assert len(many["data"]["organization"]["packages"]["nodes"]) == 50
    assert many_queries == few_queries, (few_queries, many_queries)
    nodes = {node["name"]: node for node in many["data"]["organization"]["packages"]["nodes"]}
    assert [v["version"] for v in nodes["@acme/many-7"]["versions"]["nodes"]] == ["1.1.0", "1.0.0"]
    assert nodes["@acme/many-7"]["latestVersion"]["version"] == "1.1.0"
    assert nodes["@acme/many-7"]["latestVersion"]["files"]["nodes"][0]["name"] == "many-7-1.1.0.tgz"
    assert nodes["@acme/many-7"]["version"] == {"version": "1.0.0"}
    assert nodes["@acme/many-7"]["oldest"]["nodes"] == [{"version": "1.0.0"}]
    assert [v["version"] for v in nodes["@acme/a"]["versions"]["nodes"]] == ["2.0.0-beta.1", "1.1.0", "1.0.0"]
    assert nodes["@acme/a"]["versions"]["totalCount"] == 3
    assert nodes["@acme/a"]["latestVersion"]["version"] == "1.1.0"
    assert nodes["@acme/b"]["version"] is None
