"""A revoked token or a suspended user stops working on every worker within a second, though each
worker keeps what it learned of a token for that second (`appliance.auth.recent`)."""
from __future__ import annotations

import base64
import time

import pytest
import requests

from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.tokens import Token
from tests.support.cluster import shared_bootstrap
from tests.support.databases import drop_database
from tests.support.live import LiveAppliance
from tests.support.oci import build_image, digest_of, random_bytes

# DESIGN's promise, whatever the workers' memory of credentials (`appliance.auth.recent.LIFETIME`) is set to.
WITHIN = 1.0


def whoami(live, secret: str) -> list[int]:
    """Twenty requests, each on a new connection, so both workers answer some of them."""
    return [requests.get(f"{live.origin}/_registry/npm/-/whoami", timeout=10,
                         headers={"Authorization": f"Bearer {secret}", "Connection": "close"}).status_code
            for _ in range(20)]


@pytest.mark.parametrize("change", ["revoked", "suspended"])
def test_a_change_holds_on_every_worker_within_a_second(live, change):
    login = f"user-{change}"
    live.user(login)
    secret = live.token(login, "read:packages")
    assert set(whoami(live, secret)) == {200}
    with live.db():
        if change == "revoked":
            Token.update(revoked_at=utcnow()).where(Token.user == Account.get(Account.login == login)).execute()
        else:
            Account.update(suspended=True).where(Account.login == login).execute()
    time.sleep(WITHIN)
    assert set(whoami(live, secret)) == {401}


DOCKER_HOST = "appliance.test"


@pytest.fixture(scope="module")
def docker_nodes(tmp_path_factory):
    """Two appliance nodes of two workers each, sharing one database, store and secret key (as
    tests/support/cluster.py's, without nginx), with the Docker registry on (subdomain isolation), asked
    at 127.0.0.1 with the Host header docker.appliance.test, and alice/libs/app:v1 pushed."""
    root = tmp_path_factory.mktemp("docker-nodes")
    bootstrap = shared_bootstrap(root, "local", None)
    bootstrap.storage_path.mkdir(parents=True)
    nodes = [LiveAppliance(root / f"node{i + 1}", bootstrap=bootstrap) for i in range(2)]
    nodes[0].set("hostname", DOCKER_HOST)
    nodes[0].set("subdomain_isolation", True)
    nodes[0].user("alice")
    nodes[0].repo("alice/libs")
    secret = nodes[0].token("alice", "read:packages,write:packages")
    try:
        for node in nodes:
            node.start()
        image = build_image([random_bytes(100)])
        for blob in image.blobs:
            assert docker_request(nodes[0], "POST", f"/v2/alice/libs/app/blobs/uploads/?digest={digest_of(blob)}",
                                  basic_auth("alice", secret), data=blob).status_code == 201
        assert docker_request(nodes[0], "PUT", "/v2/alice/libs/app/manifests/v1", basic_auth("alice", secret),
                              data=image.manifest, headers={"Content-Type": image.media_type}).status_code == 201
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        drop_database(bootstrap.database_url)


def basic_auth(login: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{secret}".encode()).decode()}


def docker_request(node, method: str, path: str, auth: dict, *, headers=None, **kwargs) -> requests.Response:
    return requests.request(method, f"{node.origin}{path}", timeout=10, **kwargs, headers={
        "Host": f"docker.{DOCKER_HOST}:{node.port}", "Connection": "close", **auth, **(headers or {})})


def pulls(nodes, auth: dict) -> list[int]:
    """Twenty manifest GETs on each node, each on a new connection, so every worker answers some."""
    return [docker_request(node, "GET", "/v2/alice/libs/app/manifests/v1", auth).status_code
            for node in nodes for _ in range(20)]


@pytest.mark.parametrize("how", ["bearer", "basic"])
@pytest.mark.parametrize("change", ["revoked", "suspended"])
def test_a_docker_pull_stops_on_every_worker_and_node_within_a_second(docker_nodes, change, how):
    """docker pulls with the registry bearer token it traded its login for at /token, on one node, and
    sends it to any (Basic: clients that send the login itself); the token that login named is what the
    change stops."""
    login = f"puller-{change}-{how}"
    first = docker_nodes[0]
    first.user(login)
    first.grant("alice/libs", login, "read")
    secret = first.token(login, "read:packages")
    auth = basic_auth(login, secret)
    if how == "bearer":
        answer = docker_request(first, "GET", f"/token?service=docker.{DOCKER_HOST}"
                                f"&scope=repository:alice/libs/app:pull", auth)
        assert answer.status_code == 200
        auth = {"Authorization": f"Bearer {answer.json()['token']}"}
    assert set(pulls(docker_nodes, auth)) == {200}
    with first.db():
        if change == "revoked":
            Token.update(revoked_at=utcnow()).where(Token.user == Account.get(Account.login == login)).execute()
        else:
            Account.update(suspended=True).where(Account.login == login).execute()
    time.sleep(WITHIN)
    assert set(pulls(docker_nodes, auth)) == {401}
