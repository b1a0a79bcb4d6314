"""Credentials as each client sends them, turned into an Actor (or refused, never anonymous)."""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from flask import request

from appliance.accounts.service import create_user
from appliance.auth.credentials import (
    BadCredentials,
    actor_from_basic,
    actor_from_request,
    credentials_from_request,
    token_from_request,
)
from appliance.auth.permissions import ANONYMOUS
from appliance.auth.tokens import TOKEN_PREFIX, issue_token
from appliance.models.base import utcnow
from appliance.models.tokens import Token


@pytest.fixture
def alice_token(app):
    alice = create_user("alice")
    token, secret = issue_token(alice, ["read:packages", "write:packages"])
    return token, secret


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def actor_for(app, headers: dict):
    with app.test_request_context(headers=headers):
        return actor_from_request(request)


HEADER_FORMS = {
    "bearer": lambda s: {"Authorization": f"Bearer {s}"},
    "bearer lower case": lambda s: {"Authorization": f"bearer {s}"},
    "token": lambda s: {"Authorization": f"token {s}"},
    "basic, any user name": lambda s: {"Authorization": basic("whoever", s)},
    "basic, the user's name": lambda s: {"Authorization": basic("alice", s)},
    "basic, empty user name": lambda s: {"Authorization": basic("", s)},
    "nuget api key": lambda s: {"X-NuGet-ApiKey": s},
    "rubygems bare key": lambda s: {"Authorization": s},
}


@pytest.mark.parametrize("form", HEADER_FORMS)
def test_each_header_form_authenticates_the_token(app, alice_token, form):
    token, secret = alice_token
    actor = actor_for(app, HEADER_FORMS[form](secret))

    assert not actor.is_anonymous
    assert actor.login == "alice"
    assert actor.token.id == token.id
    assert actor.scopes == {"read:packages", "write:packages"}


@pytest.mark.parametrize("form", HEADER_FORMS)
def test_an_unknown_token_in_each_header_form_is_refused(app, alice_token, form):
    with pytest.raises(BadCredentials, match="unknown, expired or revoked"):
        actor_for(app, HEADER_FORMS[form](TOKEN_PREFIX + "wrong"))


@pytest.mark.parametrize("change", [
    {"revoked_at": utcnow()},
    {"expires_at": utcnow() - dt.timedelta(minutes=1)},
])
def test_a_revoked_or_expired_token_is_refused(app, alice_token, change):
    token, secret = alice_token
    Token.update(**change).where(Token.id == token.id).execute()
    with pytest.raises(BadCredentials):
        actor_for(app, {"Authorization": f"Bearer {secret}"})


def test_no_credentials_is_anonymous(app, alice_token):
    actor = actor_for(app, {})
    assert actor is ANONYMOUS
    assert actor.is_anonymous and actor.login == "" and actor.scopes is None


@pytest.mark.parametrize("header", ["", "   "])
def test_an_empty_authorization_header_is_anonymous(app, alice_token, header):
    assert actor_for(app, {"Authorization": header}).is_anonymous


@pytest.mark.parametrize("value", ["Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"\xff\xfe:x").decode()])
def test_malformed_basic_credentials_are_refused(app, alice_token, value):
    with pytest.raises(BadCredentials, match="malformed HTTP Basic credentials"):
        actor_for(app, {"Authorization": value})


@pytest.mark.parametrize("user_pass", ["alice", "alice:"])
def test_basic_credentials_without_a_password_are_refused(app, alice_token, user_pass):
    value = "Basic " + base64.b64encode(user_pass.encode()).decode()
    with pytest.raises(BadCredentials, match="need a token as the password"):
        actor_for(app, {"Authorization": value})


def test_an_unsupported_scheme_is_refused(app, alice_token):
    _, secret = alice_token
    with pytest.raises(BadCredentials, match="unsupported authorization scheme 'Digest'"):
        actor_for(app, {"Authorization": f"Digest {secret}"})


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "token"])
def test_a_scheme_without_a_token_is_refused_not_anonymous(app, alice_token, header):
    with pytest.raises(BadCredentials):
        actor_for(app, {"Authorization": header})


def test_token_from_request_reads_the_secret(app, alice_token):
    _, secret = alice_token
    with app.test_request_context(headers={"Authorization": f"  Bearer  {secret}  "}):
        assert token_from_request(request) == secret
    with app.test_request_context(headers={"X-NuGet-ApiKey": f" {secret} "}):
        assert token_from_request(request) == secret
    with app.test_request_context():
        assert token_from_request(request) is None


def test_the_nuget_key_is_used_when_both_headers_come(app, alice_token):
    token, secret = alice_token
    actor = actor_for(app, {"X-NuGet-ApiKey": secret, "Authorization": "Bearer something-else"})
    assert actor.token.id == token.id


@pytest.mark.parametrize("headers", [
    {"Authorization": "Basic \xe9"},
    {"Authorization": "Basic " + base64.b64encode("alice:\xe9".encode()).decode()},
    {"Authorization": "Bearer dkr1.e30.\xe9"},
    {"Authorization": "token \xe9"},
    {"Authorization": "\xe9"},
    {"X-NuGet-ApiKey": "\xe9\x00"},
], ids=["basic", "basic password", "bearer", "token", "bare key", "nuget key"])
def test_any_bytes_in_a_credential_header_are_bad_credentials(app, headers):
    with app.test_request_context(headers=headers), pytest.raises(BadCredentials, match="malformed"):
        credentials_from_request(request)


def test_actor_from_basic_takes_basic_or_nothing(app, alice_token):
    token, secret = alice_token
    with app.test_request_context(headers={"Authorization": basic("alice", secret)}):
        assert actor_from_basic(request).token.id == token.id
    with app.test_request_context():
        assert actor_from_basic(request).is_anonymous
    for other in (f"Bearer {secret}", f"token {secret}", secret):
        with app.test_request_context(headers={"Authorization": other}), pytest.raises(BadCredentials):
            actor_from_basic(request)
    with app.test_request_context(headers={"X-NuGet-ApiKey": secret}), pytest.raises(BadCredentials):
        actor_from_basic(request)
