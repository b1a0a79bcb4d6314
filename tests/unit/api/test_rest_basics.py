"""The REST API's face: tokens as GitHub takes them, GitHub's error shape and headers, rate limits, and
the endpoints clients call first."""
from __future__ import annotations

import base64

import pytest

from appliance.accounts.service import add_member, create_organization, create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting


@pytest.fixture
def world(app):
    store_setting("hostname", "packages.example")
    alice = create_user("alice", email="alice@example.com")
    bob = create_user("bob")
    acme = create_organization("acme", alice)
    add_member(acme, bob)
    create_repository(acme, "public-repo", "public")
    create_repository(acme, "secret", "private")
    return {
        "alice": issue_token(alice, ["read:packages"])[1],
        "bob": issue_token(bob, ["read:packages"])[1],
    }


def auth(token: str, scheme: str = "token") -> dict:
    if scheme == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"x:{token}".encode()).decode()}
    return {"Authorization": f"{scheme} {token}"}


@pytest.mark.parametrize("scheme", ["token", "Bearer", "basic"])
def test_user_with_each_way_of_sending_a_token(client, world, scheme):
    response = client.get("/api/v3/user", headers=auth(world["alice"], scheme))
    assert response.status_code == 200
    body = response.get_json()
    assert body["login"] == "alice" and body["type"] == "User"
    assert body["url"] == "http://packages.example/api/v3/users/alice"
    assert response.headers["X-OAuth-Scopes"] == "read:packages"
    assert response.headers["X-GitHub-Media-Type"] == "github.v3; format=json"


def test_user_anonymous_is_401_in_githubs_shape(client, world):
    response = client.get("/api/v3/user")
    assert response.status_code == 401
    body = response.get_json()
    assert body["message"] == "Requires authentication"
    assert body["documentation_url"].startswith("https://docs.github.com/")


def test_unknown_token_is_bad_credentials(client, world):
    response = client.get("/api/v3/users/alice", headers=auth("apt_nope"))
    assert response.status_code == 401
    assert response.get_json()["message"] == "Bad credentials"


def test_users_and_orgs(client, world):
    assert client.get("/api/v3/users/acme").get_json()["type"] == "Organization"
    org = client.get("/api/v3/orgs/acme").get_json()
    assert org["login"] == "acme" and org["public_repos"] == 1
    assert client.get("/api/v3/orgs/alice").status_code == 404
    missing = client.get("/api/v3/users/nobody")
    assert missing.status_code == 404 and missing.get_json()["message"] == "Not Found"


def test_repositories_by_visibility(client, world):
    public = client.get("/api/v3/repos/acme/public-repo")
    assert public.status_code == 200 and public.get_json()["private"] is False
    assert client.get("/api/v3/repos/acme/secret").status_code == 401
    assert client.get("/api/v3/repos/acme/secret", headers=auth(world["bob"])).status_code == 404
    mine = client.get("/api/v3/repos/acme/secret", headers=auth(world["alice"])).get_json()
    assert mine["full_name"] == "acme/secret" and mine["permissions"]["admin"] is True
    assert client.get("/api/v3/repos/acme/none", headers=auth(world["alice"])).status_code == 404


def test_rate_limit_headers_and_exhaustion(client, world):
    store_setting("api.anonymous_rate_limit", 3)
    for used in (1, 2, 3):
        response = client.get("/api/v3/meta")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Used"] == str(used)
        assert response.headers["X-RateLimit-Remaining"] == str(3 - used)
        assert int(response.headers["X-RateLimit-Reset"]) > 0
    refused = client.get("/api/v3/meta")
    assert refused.status_code == 403
    assert refused.get_json()["message"].startswith("API rate limit exceeded")
    # A signed-in user has a count of their own.
    assert client.get("/api/v3/rate_limit", headers=auth(world["alice"])).get_json()["rate"]["limit"] == 5000


def test_rate_limiting_off(client, world):
    store_setting("api.anonymous_rate_limit", 0)
    response = client.get("/api/v3/meta")
    assert "X-RateLimit-Limit" not in response.headers
    assert client.get("/api/v3/rate_limit").status_code == 404


def test_unknown_route_and_method(client, world):
    assert client.get("/api/v3/nothing/here").get_json()["message"] == "Not Found"
    response = client.delete("/api/v3/meta")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
