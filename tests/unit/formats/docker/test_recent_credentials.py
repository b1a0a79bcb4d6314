"""Docker's hot path with each worker's one-second memory of credentials (`appliance.auth.recent`): a
client pulling with a registry bearer token (or its login sent as Basic) costs no credential lookup, and a
revoked token, a suspended user or a role taken away on another worker or node still stops it within the
second; the scopes of the bearer token and the repository's rules are still asked on every request."""
from __future__ import annotations

import pytest

from appliance.accounts.service import create_user, get_repository, get_user, grant
from appliance.auth.tokens import issue_token
from appliance.db import database
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.repositories import Collaborator
from appliance.models.tokens import Token
from appliance.settings import store_setting
from tests.support.oci import build_image, random_bytes
from tests.support.queries import Queries
from tests.support.recent import Clock, recent_answers_on_a_clock
from tests.unit.formats.docker.conftest import basic, bearer, error_code
from tests.unit.formats.docker.test_blueprint import token_for

MANIFEST = "/v2/alice/libs/app/manifests/v1"


@pytest.fixture
def clock(app) -> Clock:
    return recent_answers_on_a_clock(app)


@pytest.fixture
def pushed(registry):
    """alice/libs/app:v1, in a private repository, so that what may read it is decided by role."""
    registry.push_image(build_image([random_bytes(100)]), "v1")
    database.execute_sql("UPDATE repository SET visibility = 'private'")
    store_setting("anonymous_read", False)
    return registry


def written_elsewhere(sql: str, *params) -> None:
    """A change made by another worker or node: raw SQL, which moves nothing in this process."""
    database.execute_sql(sql.replace("?", database.param), params)


def credentials(registry, how: str, user: str, secret: str) -> dict[str, str]:
    if how == "basic":
        return basic(user, secret)
    return bearer(token_for(registry, "repository:alice/libs/app:pull", auth=basic(user, secret)))


@pytest.mark.parametrize("how", ["basic", "bearer"])
def test_a_pull_with_credentials_asks_the_database_no_more_than_an_anonymous_one(pushed, clock, how):
    store_setting("anonymous_read", True)
    database.execute_sql("UPDATE repository SET visibility = 'public'")
    auth = credentials(pushed, how, "alice", pushed.token)
    for headers in (False, auth):  # the first request of each fills what the second finds
        assert pushed.request("GET", MANIFEST, auth=headers).status_code == 200
    with Queries() as anonymous:
        assert pushed.request("GET", MANIFEST, auth=False).status_code == 200
    with Queries() as authenticated:
        assert pushed.request("GET", MANIFEST, auth=auth).status_code == 200
    assert authenticated.count == anonymous.count


@pytest.mark.parametrize("how", ["basic", "bearer"])
@pytest.mark.parametrize("change", ["revoked", "suspended"])
def test_a_revoked_token_or_a_suspended_user_stops_pulling_within_the_second(pushed, clock, how, change):
    alice = get_user("alice")
    auth = credentials(pushed, how, "alice", pushed.token)
    assert pushed.request("GET", MANIFEST, auth=auth).status_code == 200
    if change == "revoked":
        written_elsewhere('UPDATE "token" SET revoked_at = ? WHERE user_id = ?',
                          Token.revoked_at.db_value(utcnow()), alice.id)
    else:
        written_elsewhere('UPDATE "account" SET suspended = ? WHERE id = ?',
                          Account.suspended.db_value(True), alice.id)
    assert pushed.request("GET", MANIFEST, auth=auth).status_code == 200  # this worker's answer of the second
    clock.now += 1.0  # the product's promise, whatever LIFETIME is
    response = pushed.request("GET", MANIFEST, auth=auth)
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"
    assert 'scope="repository:alice/libs/app:pull"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("how", ["basic", "bearer"])
def test_a_role_taken_away_elsewhere_stops_pulling_within_the_second(pushed, clock, how):
    bob = create_user("bob")
    grant(get_repository("alice/libs"), bob, "read")
    auth = credentials(pushed, how, "bob", issue_token(bob, ["read:packages"])[1])
    assert pushed.request("GET", MANIFEST, auth=auth).status_code == 200
    written_elsewhere('DELETE FROM "collaborator" WHERE user_id = ?', bob.id)
    assert pushed.request("GET", MANIFEST, auth=auth).status_code == 200
    clock.now += 1.0
    response = pushed.request("GET", MANIFEST, auth=auth)
    assert response.status_code == 404 and error_code(response) == "NAME_UNKNOWN"


def test_a_change_made_by_this_worker_holds_at_once(pushed, clock):
    bob = create_user("bob")
    grant(get_repository("alice/libs"), bob, "read")
    auth = credentials(pushed, "bearer", "bob", issue_token(bob, ["read:packages"])[1])
    assert pushed.request("GET", MANIFEST, auth=auth).status_code == 200
    Collaborator.delete().where(Collaborator.user == bob.id).execute()
    assert pushed.request("GET", MANIFEST, auth=auth).status_code == 404


def test_scopes_are_still_checked_on_every_request(pushed, clock):
    """What the bearer token grants and what the personal token's scopes allow are asked each time, the
    remembered token notwithstanding."""
    pull_only = bearer(token_for(pushed, "repository:alice/libs/app:pull"))
    assert pushed.request("GET", MANIFEST, auth=pull_only).status_code == 200
    response = pushed.request("POST", "/v2/alice/libs/app/blobs/uploads/", auth=pull_only)
    assert response.status_code == 401 and 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    read_only = issue_token(get_user("alice"), ["read:packages"])[1]
    assert pushed.request("GET", MANIFEST, auth=basic("alice", read_only)).status_code == 200
    response = pushed.request("POST", "/v2/alice/libs/app/blobs/uploads/", auth=basic("alice", read_only))
    assert response.status_code == 403 and error_code(response) == "DENIED"
