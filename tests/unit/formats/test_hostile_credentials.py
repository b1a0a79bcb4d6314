"""Every credential header of every registry, sent with hostile bytes: each is the client's own 401
challenge, never a 500 (the review's `Basic \\xe9` and `Bearer dkr1.e30.\\xe9`); the same bytes on the REST
and GraphQL APIs and the pages are never a 500 either."""
from __future__ import annotations

import base64

import pytest

from appliance.accounts.service import create_repository, create_user
from appliance.settings import store_setting

HOSTNAME = "appliance.test"

# (format, method, path, the challenge's scheme): a read and a write of each registry
ENDPOINTS = [
    ("npm", "GET", "/@alice/pkg", "Token"),
    ("npm", "PUT", "/@alice/pkg", "Token"),
    ("npm", "PUT", "/-/package/@alice/pkg/dist-tags/next", "Token"),
    ("rubygems", "GET", "/alice/versions", "Basic"),
    ("rubygems", "POST", "/alice/api/v1/gems", "Basic"),
    ("maven", "GET", "/alice/libs/com/example/lib/1.0/lib-1.0.pom", "Basic"),
    ("maven", "PUT", "/alice/libs/com/example/lib/1.0/lib-1.0.pom", "Basic"),
    ("nuget", "GET", "/alice/index.json", "Basic"),
    ("nuget", "PUT", "/alice/api/v2/package", "Basic"),
    ("docker", "GET", "/v2/", "Bearer"),
    ("docker", "GET", "/v2/alice/libs/app/tags/list", "Bearer"),
    ("docker", "GET", "/token?scope=repository:alice/libs/app:pull", "Bearer"),
    ("docker", "POST", "/v2/alice/libs/app/blobs/uploads/", "Bearer"),
]

# What a client can put in a header: WSGI hands each byte over as the latin-1 character of that value.
HOSTILE = {
    "basic, a non-ASCII byte": {"Authorization": "Basic \xe9"},
    "basic, not base64": {"Authorization": "Basic !!!"},
    "basic, bad padding": {"Authorization": "Basic YWJj="},
    "basic, not UTF-8 inside": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xfa").decode()},
    "basic, a non-ASCII password": {"Authorization": "Basic " + base64.b64encode("a:\xe9".encode()).decode()},
    "basic, a control character": {"Authorization": "Basic " + base64.b64encode(b"a:x\x00y").decode()},
    "basic, no password": {"Authorization": "Basic " + base64.b64encode(b"alice").decode()},
    "basic, very long": {"Authorization": "Basic " + "QUFB" * 5000},
    "bearer, a docker token with a non-ASCII signature": {"Authorization": "Bearer dkr1.e30.\xe9"},
    "bearer, a docker token with no signature": {"Authorization": "Bearer dkr1.e30"},
    "bearer, non-ASCII": {"Authorization": "Bearer \xe9\xff"},
    "bearer, a control character": {"Authorization": "Bearer apt_\x01x"},
    "token scheme, non-ASCII": {"Authorization": "token \xe9"},
    "token scheme, unknown": {"Authorization": "token X"},
    "unknown scheme with non-ASCII": {"Authorization": "D\xe9gest x"},
    "bare key, non-ASCII (rubygems)": {"Authorization": "\xe9\xff\x80"},
    "bare key, unknown (rubygems)": {"Authorization": "rubygems_0123"},
    "nuget key, non-ASCII": {"X-NuGet-ApiKey": "\xe9"},
    "nuget key, control characters": {"X-NuGet-ApiKey": "a\x7fb"},
    "nuget key, unknown": {"X-NuGet-ApiKey": "apt_nope"},
}


@pytest.fixture
def world(app, client):
    store_setting("hostname", HOSTNAME)
    store_setting("subdomain_isolation", True)
    alice = create_user("alice")
    create_repository(alice, "libs")
    return client


@pytest.mark.parametrize("fmt,method,path,scheme", ENDPOINTS, ids=[f"{e[0]} {e[1]} {e[2]}" for e in ENDPOINTS])
def test_hostile_credentials_get_the_clients_challenge(world, fmt, method, path, scheme):
    answers = {}
    for name, headers in HOSTILE.items():
        response = world.open(path, method=method, headers={"Host": f"{fmt}.{HOSTNAME}", **headers}, data=b"")
        answers[name] = (response.status_code, response.headers.get("WWW-Authenticate", "").split(" ")[0])
    assert answers == {name: (401, scheme) for name in HOSTILE}


# The faces beside the registries: GitHub's APIs answer 401 in GitHub's shape; pages, which sign in with
# a session, send to the sign-in page or ignore the header.
OTHER_FACES = [
    ("GET", "/api/v3/user", 401),
    ("GET", "/api/v3/orgs/alice/packages?package_type=npm", 401),
    ("POST", "/api/graphql", 401),
    ("GET", "/settings/tokens", 302),
    ("GET", "/console/", 302),
    ("GET", "/", 200),
]


@pytest.mark.parametrize("method,path,status", OTHER_FACES, ids=[f"{m} {p}" for m, p, _ in OTHER_FACES])
def test_hostile_credentials_on_the_apis_and_pages_are_never_a_500(world, method, path, status):
    answers = {}
    for name, headers in HOSTILE.items():
        response = world.open(path, method=method, headers={"Host": HOSTNAME, **headers},
                              json={"query": "{ viewer { login } }"} if method == "POST" else None)
        answers[name] = response.status_code
    assert answers == {name: status for name in HOSTILE}
