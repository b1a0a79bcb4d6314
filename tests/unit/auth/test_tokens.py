"""Issuing tokens and finding the live token for a secret."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import (
    TOKEN_PREFIX,
    InvalidScopes,
    InvalidTokenRequest,
    find_token,
    hash_secret,
    issue_token,
    parse_duration,
    parse_scopes,
)
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.tokens import Token


@pytest.fixture
def alice(app):
    return create_user("alice")


def test_issue_token_returns_the_secret_and_stores_only_its_sha256(alice):
    token, secret = issue_token(alice, ["read:packages", "write:packages"], note="laptop")

    assert secret.startswith(TOKEN_PREFIX) and len(secret) > len(TOKEN_PREFIX) + 30
    row = Token.get_by_id(token.id)
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert (row.user_id, row.scopes, row.note) == (alice.id, "read:packages,write:packages", "laptop")
    assert row.scope_set == {"read:packages", "write:packages"}
    assert (row.expires_at, row.last_used_at, row.revoked_at, row.repository_id) == (None, None, None, None)
    # The secret itself is nowhere in the database row: it is shown once, by the caller.
    assert not any(secret in str(value) for value in row.__data__.values())


def test_each_token_gets_its_own_secret(alice):
    secrets = {issue_token(alice, ["read:packages"])[1] for _ in range(5)}
    assert len(secrets) == 5


def test_issue_token_with_a_lifetime_and_a_repository(alice):
    repository = create_repository(alice, "ci-only")
    before = utcnow()
    token, _ = issue_token(alice, ["write:packages"], expires_in=dt.timedelta(days=30), repository=repository)
    row = Token.get_by_id(token.id)
    assert before + dt.timedelta(days=30) <= row.expires_at <= utcnow() + dt.timedelta(days=30)
    assert row.repository_id == repository.id


def test_a_zero_lifetime_is_not_a_token_that_never_expires(alice):
    token, secret = issue_token(alice, ["read:packages"], expires_in=dt.timedelta(0))
    assert Token.get_by_id(token.id).expires_at is not None
    assert find_token(secret) is None


def test_find_token_returns_the_live_token(alice):
    token, secret = issue_token(alice, ["read:packages"])
    found = find_token(secret)
    assert found is not None and found.id == token.id
    assert found.user.login == "alice"


def test_find_token_of_an_unknown_secret(alice):
    issue_token(alice, ["read:packages"])
    assert find_token(TOKEN_PREFIX + "not-a-real-token") is None
    assert find_token("") is None


def test_find_token_of_an_expired_token(alice):
    token, secret = issue_token(alice, ["read:packages"], expires_in=dt.timedelta(hours=1))
    assert find_token(secret) is not None
    Token.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(Token.id == token.id).execute()
    assert find_token(secret) is None


def test_find_token_of_a_revoked_token(alice):
    token, secret = issue_token(alice, ["read:packages"])
    Token.update(revoked_at=utcnow()).where(Token.id == token.id).execute()
    assert find_token(secret) is None


def test_find_token_of_a_suspended_user(alice):
    _, secret = issue_token(alice, ["read:packages"])
    Account.update(suspended=True).where(Account.id == alice.id).execute()
    assert find_token(secret) is None
    Account.update(suspended=False).where(Account.id == alice.id).execute()
    assert find_token(secret) is not None


def test_find_token_records_the_last_use_at_most_once_a_minute(alice):
    token, secret = issue_token(alice, ["read:packages"])

    before = utcnow()
    find_token(secret)
    first = Token.get_by_id(token.id).last_used_at
    assert first is not None and before <= first <= utcnow()

    recent = utcnow() - dt.timedelta(seconds=30)
    Token.update(last_used_at=recent).where(Token.id == token.id).execute()
    find_token(secret)
    assert Token.get_by_id(token.id).last_used_at == recent

    stale = utcnow() - dt.timedelta(minutes=2)
    Token.update(last_used_at=stale).where(Token.id == token.id).execute()
    find_token(secret)
    assert Token.get_by_id(token.id).last_used_at > recent


def test_a_refused_token_does_not_record_a_use(alice):
    token, secret = issue_token(alice, ["read:packages"])
    Token.update(revoked_at=utcnow()).where(Token.id == token.id).execute()
    find_token(secret)
    assert Token.get_by_id(token.id).last_used_at is None


# ---- parsing ---------------------------------------------------------------------------------------


def test_parse_scopes_orders_and_deduplicates():
    assert parse_scopes("write:packages, read:packages,write:packages") == ["read:packages", "write:packages"]
    assert parse_scopes("repo,delete:packages,read:packages,write:packages") == [
        "read:packages", "write:packages", "delete:packages", "repo"]
    assert parse_scopes(" read:packages ,, ") == ["read:packages"]


@pytest.mark.parametrize("text", ["admin:org", "read:packages,packages:write", "READ:PACKAGES", "*"])
def test_parse_scopes_refuses_unknown_scopes_and_lists_the_known_ones(text):
    with pytest.raises(InvalidScopes) as raised:
        parse_scopes(text)
    message = str(raised.value)
    assert "unknown scope" in message
    assert "read:packages, write:packages, delete:packages, repo" in message


@pytest.mark.parametrize(("text", "delta"), [
    ("30m", dt.timedelta(minutes=30)),
    ("12h", dt.timedelta(hours=12)),
    ("30d", dt.timedelta(days=30)),
    ("4w", dt.timedelta(weeks=4)),
    (" 1d ", dt.timedelta(days=1)),
])
def test_parse_duration(text, delta):
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["30", "d", "1y", "-1d", "1.5h", "30 d", "", "30D", "0d", "0m"])
def test_parse_duration_refuses_the_rest(text):
    with pytest.raises(InvalidTokenRequest, match="expected a duration like 30m, 12h, 30d or 4w"):
        parse_duration(text)


def test_parse_scopes_wants_at_least_one():
    with pytest.raises(InvalidScopes, match="name at least one scope"):
        parse_scopes(" , ")


def test_list_and_revoke_serve_the_cli_and_the_settings_page(app):
    from appliance.auth.tokens import TokenNotFound, list_tokens, revoke_token

    alice, bob = create_user("alice"), create_user("bob")
    first, secret = issue_token(alice, ["read:packages"], note="first")
    issue_token(bob, ["read:packages"], note="bob")
    assert [t.note for t in list_tokens(alice)] == ["first"]
    assert {t.note for t in list_tokens()} == {"first", "bob"}
    with pytest.raises(TokenNotFound, match=f"no token {first.id} of bob"):
        revoke_token(first.id, user=bob)
    assert revoke_token(first.id).revoked_at is not None
    assert find_token(secret) is None
    assert revoke_token(first.id).revoked_at is not None  # again: nothing changes
