"""A worker keeps what it learned of a credential for one second: the next requests of a client that
sends its token every time skip the lookups, and a revocation still holds everywhere within the second."""
from __future__ import annotations

import pytest
from flask import request

from appliance.accounts.service import create_organization, create_repository, create_user, grant
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.auth.permissions import Action, Actor, repositories_allowing, repository_role
from appliance.auth.recent import LIFETIME, RecentAnswers, remembered
from appliance.auth.tokens import issue_token
from appliance.db import database
from appliance.models.accounts import Account, OrganizationMember
from appliance.models.base import credential_writes, utcnow
from appliance.models.repositories import Collaborator, Repository
from appliance.models.tokens import Token
from tests.support.queries import Queries
from tests.support.recent import Clock, recent_answers_on_a_clock


@pytest.fixture
def clock(app) -> Clock:
    return recent_answers_on_a_clock(app)


def actor_of(app, secret: str):
    with app.test_request_context(headers={"Authorization": f"Bearer {secret}"}):
        return actor_from_request(request)


def test_answers_live_for_their_lifetime_only():
    clock = Clock()
    answers = RecentAnswers(lifetime=1.0, clock=clock)
    answers.put("k", "v", credential_writes(), clock())
    clock.now += 0.99
    assert answers.get("k") == "v"
    clock.now += 0.01
    assert answers.get("k") != "v"


def test_the_oldest_answers_go_past_the_size():
    answers = RecentAnswers(size=2)
    for key in "abc":
        answers.put(key, key, credential_writes(), answers.clock())
    assert [answers.get(k) for k in "bc"] == ["b", "c"]
    assert answers.get("a") != "a"


def test_outside_a_request_every_call_looks_up(app):
    calls = []
    for _ in range(2):
        remembered("k", lambda: calls.append(1) or "v")
    assert len(calls) == 2


def test_a_token_is_looked_up_once_a_second(app, clock):
    alice = create_user("alice")
    _, secret = issue_token(alice, ["read:packages"])
    assert actor_of(app, secret).login == "alice"
    with Queries() as queries:
        assert actor_of(app, secret).login == "alice"
    assert queries.count == 0
    clock.now += LIFETIME
    with Queries() as queries:
        assert actor_of(app, secret).login == "alice"
    assert queries.count == 1  # the token and its user, in one query


@pytest.mark.parametrize("change", ["revoked", "suspended", "expired"])
def test_a_change_made_elsewhere_holds_within_the_second(app, clock, change):
    alice = create_user("alice")
    token, secret = issue_token(alice, ["read:packages"])
    actor_of(app, secret)
    # Another worker or node changes the row: nothing in this process moves `credential_writes`.
    table, column, value, row = {
        "revoked": (Token, "revoked_at", utcnow(), token.id),
        "suspended": (Account, "suspended", True, alice.id),
        "expired": (Token, "expires_at", utcnow(), token.id),
    }[change]
    mark = database.param  # '?' on SQLite, '%s' on PostgreSQL
    database.execute_sql(f'UPDATE "{table._meta.table_name}" SET "{column}" = {mark} WHERE id = {mark}',
                         (table._meta.fields[column].db_value(value), row))
    clock.now += LIFETIME - 0.01
    assert actor_of(app, secret).login == "alice"
    clock.now += 0.01
    with pytest.raises(BadCredentials):
        actor_of(app, secret)


def test_a_change_made_in_this_process_holds_at_once(app, clock):
    alice = create_user("alice")
    token, secret = issue_token(alice, ["read:packages"])
    actor_of(app, secret)
    Token.update(revoked_at=utcnow()).where(Token.id == token.id).execute()
    with pytest.raises(BadCredentials):
        actor_of(app, secret)


def test_a_token_expiring_within_the_second_is_not_kept(app, clock):
    import datetime as dt

    alice = create_user("alice")
    _, secret = issue_token(alice, ["read:packages"], expires_in=dt.timedelta(minutes=1))
    Token.update(expires_at=utcnow() + dt.timedelta(seconds=0.5)).execute()
    actor_of(app, secret)
    with Queries() as queries:
        actor_of(app, secret)
    assert queries.count == 1


def test_a_collaborators_role_is_decided_once_a_second(app, clock):
    alice, bob = create_user("alice"), create_user("bob")
    repository = create_repository(alice, "tools", visibility="private")
    grant(repository, bob, "write")
    with app.test_request_context():
        assert repository_role(bob, repository) == "write"
        with Queries() as queries:
            assert repository_role(bob, repository) == "write"
        assert queries.count == 0
        database.execute_sql('DELETE FROM "collaborator"')
        assert repository_role(bob, repository) == "write"
        clock.now += LIFETIME
        assert repository_role(bob, repository) is None
        Collaborator.create(repository=repository, user=bob, role="read")  # in this process: at once
        assert repository_role(bob, repository) == "read"


@pytest.mark.parametrize("how", ["collaborator", "organization owner"])
def test_what_a_user_may_list_follows_their_roles_within_the_second(app, clock, how):
    """Listings (indexes of an owner's packages, search, the catalog) filter by the user's roles as
    `repository_role` decides them: remembered for the second, a change elsewhere seen within it and a
    change in this process at once."""
    alice, bob = create_user("alice"), create_user("bob")
    if how == "collaborator":
        repository = create_repository(alice, "tools", visibility="private")
        grant(repository, bob, "read")
        table = Collaborator._meta.table_name
    else:
        repository = create_repository(create_organization("acme", bob), "tools", visibility="private")
        table = OrganizationMember._meta.table_name

    def listed() -> set[int]:
        condition = repositories_allowing(Actor(user=bob), Action.READ, anonymous_read=True)
        return {r.id for r in Repository.select().where(condition)}

    with app.test_request_context():
        assert listed() == {repository.id}
        with Queries() as queries:
            assert listed() == {repository.id}
        assert queries.count == 1  # the listing alone: bob's roles were remembered
        database.execute_sql(f'DELETE FROM "{table}" WHERE user_id = {bob.id}')  # another worker or node
        assert listed() == {repository.id}
        clock.now += 1.0
        assert listed() == set()
        if how == "collaborator":
            Collaborator.create(repository=repository, user=bob, role="read")  # in this process: at once
        else:
            OrganizationMember.create(organization=repository.owner_id, user=bob, role="owner")
        assert listed() == {repository.id}
