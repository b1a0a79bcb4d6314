"""GitHub's packages endpoints: paths, parameters, shapes, status codes and Link pagination, delete and
restore under DESIGN.md's rules, as `gh api` and scripts call them."""
from __future__ import annotations

import re

import pytest

from appliance.accounts.service import add_member, create_organization, create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting

FULL = ["read:packages", "write:packages", "delete:packages", "repo"]


@pytest.fixture
def world(app, publish_as):
    store_setting("hostname", "packages.example")
    alice = create_user("alice")
    bob = create_user("bob")
    acme = create_organization("acme", alice)
    add_member(acme, bob)
    create_repository(acme, "widgets", "public")
    create_repository(acme, "secret", "private")
    create_repository(alice, "mine", "private")
    for letter in "abcde":
        publish_as(alice, "acme", "npm", f"@acme/{letter}", "1.0.0", "widgets", tags=("latest",))
    publish_as(alice, "acme", "npm", "@acme/a", "1.1.0", "widgets", tags=("latest",), summary="the a")
    publish_as(alice, "acme", "npm", "@acme/hidden", "1.0.0", "secret")
    publish_as(alice, "acme", "docker", "acme/widgets/app", "sha256:" + "1" * 64, "widgets", tags=("v1", "latest"))
    publish_as(alice, "alice", "npm", "@alice/own", "0.1.0", "mine")

    def token(user, scopes=FULL):
        return {"Authorization": f"token {issue_token(user, scopes)[1]}"}

    return {"alice": token(alice), "bob": token(bob), "alice-read": token(alice, ["read:packages"]),
            "alice-nothing": token(alice, ["repo"])}


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


def test_list_an_orgs_npm_packages_page_by_page(client, world):
    first = client.get("/api/v3/orgs/acme/packages?package_type=npm&per_page=2", headers=world["bob"])
    assert first.status_code == 200
    assert [p["name"] for p in first.get_json()] == ["@acme/a", "@acme/b"]
    rels = links(first)
    assert rels["next"] == "http://packages.example/api/v3/orgs/acme/packages?package_type=npm&per_page=2&page=2"
    assert rels["last"].endswith("page=3")
    last = client.get(rels["last"].replace("http://packages.example", ""), headers=world["bob"])
    assert [p["name"] for p in last.get_json()] == ["@acme/e"]
    assert set(links(last)) == {"prev", "first"}
    # bob is a member, not a collaborator of acme/secret: he does not see its package.
    every = client.get("/api/v3/orgs/acme/packages?package_type=npm", headers=world["alice"]).get_json()
    assert "@acme/hidden" in [p["name"] for p in every]
    private = client.get("/api/v3/orgs/acme/packages?visibility=private", headers=world["alice"]).get_json()
    assert [p["name"] for p in private] == ["@acme/hidden"]


def test_package_shape(client, world):
    response = client.get("/api/v3/orgs/acme/packages/npm/@acme%2Fa", headers=world["bob"])
    assert response.status_code == 200
    package = response.get_json()
    assert package["name"] == "@acme/a" and package["package_type"] == "npm"
    assert package["version_count"] == 2 and package["visibility"] == "public"
    assert package["owner"]["login"] == "acme" and package["owner"]["type"] == "Organization"
    assert package["repository"]["full_name"] == "acme/widgets"
    assert package["url"] == "http://packages.example/api/v3/orgs/acme/packages/npm/@acme%2Fa"
    assert package["html_url"] == "http://packages.example/orgs/acme/packages/npm/package/@acme%2Fa"
    assert package["created_at"].endswith("Z")


def test_versions_and_container_tags(client, world):
    versions = client.get("/api/v3/orgs/acme/packages/npm/@acme%2Fa/versions", headers=world["bob"]).get_json()
    assert [v["name"] for v in versions] == ["1.1.0", "1.0.0"]
    newest = client.get(f"/api/v3/orgs/acme/packages/npm/@acme%2Fa/versions/{versions[0]['id']}",
                        headers=world["bob"]).get_json()
    assert newest["description"] == "the a" and newest["metadata"] == {"package_type": "npm"}
    assert newest["package_html_url"].endswith("/orgs/acme/packages/npm/package/@acme%2Fa")
    (image,) = client.get("/api/v3/orgs/acme/packages/container/acme%2Fwidgets%2Fapp/versions",
                          headers=world["bob"]).get_json()
    assert image["metadata"] == {"package_type": "container", "container": {"tags": ["latest", "v1"]}}
    assert client.get("/api/v3/orgs/acme/packages/npm/@acme%2Fa/versions/999999",
                      headers=world["bob"]).status_code == 404


def test_delete_and_restore_a_version(client, world):
    base = "/api/v3/orgs/acme/packages/npm/@acme%2Fa"
    newest = client.get(f"{base}/versions", headers=world["alice"]).get_json()[0]
    refused = client.delete(f"{base}/versions/{newest['id']}", headers=world["alice-read"])
    assert refused.status_code == 403
    assert "delete:packages" in refused.get_json()["message"]
    assert refused.headers["X-Accepted-OAuth-Scopes"] == "delete:packages, read:packages, repo"
    assert client.delete(f"{base}/versions/{newest['id']}", headers=world["bob"]).status_code == 403
    assert client.delete(f"{base}/versions/{newest['id']}", headers=world["alice"]).status_code == 204
    assert [v["name"] for v in client.get(f"{base}/versions", headers=world["alice"]).get_json()] == ["1.0.0"]
    (deleted,) = client.get(f"{base}/versions?state=deleted", headers=world["alice"]).get_json()
    assert deleted["id"] == newest["id"] and deleted["deleted_at"].endswith("Z")
    assert client.get(f"{base}/versions?state=deleted", headers=world["bob"]).status_code == 404
    assert client.post(f"{base}/versions/{newest['id']}/restore", headers=world["alice"]).status_code == 204
    assert len(client.get(f"{base}/versions", headers=world["alice"]).get_json()) == 2


def test_delete_and_restore_a_package(client, world):
    base = "/api/v3/orgs/acme/packages/npm/@acme%2Fb"
    assert client.delete(base, headers=world["alice"]).status_code == 204
    assert client.get(base, headers=world["alice"]).status_code == 404
    deleted = client.get("/api/v3/orgs/acme/packages?state=deleted", headers=world["alice"]).get_json()
    assert [p["name"] for p in deleted] == ["@acme/b"]
    assert client.post(f"{base}/restore", headers=world["bob"]).status_code == 404
    assert client.post(f"{base}/restore", headers=world["alice"]).status_code == 204
    assert client.get(base, headers=world["bob"]).status_code == 200


def test_who_sees_what(client, world):
    hidden = "/api/v3/orgs/acme/packages/npm/@acme%2Fhidden"
    anonymous = client.get(hidden)
    assert anonymous.status_code == 401 and anonymous.get_json()["message"] == "Requires authentication"
    assert client.get(hidden, headers=world["bob"]).get_json()["message"] == "Not Found"
    assert client.get(hidden, headers=world["alice"]).status_code == 200
    no_scope = client.get(hidden, headers=world["alice-nothing"])
    assert no_scope.status_code == 403 and "read:packages" in no_scope.get_json()["message"]
    assert client.get("/api/v3/orgs/acme/packages/npm/@acme%2Fnone", headers=world["bob"]).status_code == 404
    assert client.get("/api/v3/orgs/alice/packages", headers=world["bob"]).status_code == 404
    assert client.get("/api/v3/orgs/nobody/packages").status_code == 401
    assert client.get("/api/v3/orgs/acme/packages?package_type=pypi", headers=world["bob"]).status_code == 400


def test_user_packages(client, world):
    mine = client.get("/api/v3/user/packages?package_type=npm", headers=world["alice"]).get_json()
    assert [p["name"] for p in mine] == ["@alice/own"]
    assert client.get("/api/v3/user/packages").status_code == 401
    assert client.get("/api/v3/users/alice/packages/npm/@alice%2Fown", headers=world["bob"]).status_code == 404
    got = client.get("/api/v3/users/alice/packages/npm/@alice%2Fown", headers=world["alice"]).get_json()
    assert got["url"].endswith("/api/v3/users/alice/packages/npm/@alice%2Fown")


def test_docker_conflicts(client, world):
    for path in ("/orgs/acme", "/users/alice", "/user"):
        response = client.get(f"/api/v3{path}/docker/conflicts", headers=world["alice"])
        assert response.status_code == 200 and response.get_json() == []
    assert client.get("/api/v3/user/docker/conflicts", headers=world["alice-nothing"]).status_code == 403
