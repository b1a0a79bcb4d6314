"""/settings/tokens: create (shown once), list with last use, revoke; the rules of `appliance tokens`."""
from __future__ import annotations

import re

import pytest

from appliance.accounts.service import create_user
from appliance.auth.tokens import find_token, issue_token
from appliance.models import Token
from tests.support.web import csrf_token, post_form, sign_in


@pytest.fixture
def alice(app):
    return create_user("alice", password="alice-password")


def test_signed_out_the_page_is_the_sign_in_page_that_leads_back(client):
    response = client.get("/settings/tokens")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/settings/tokens"


def test_a_token_is_created_shown_once_and_works(client, alice):
    sign_in(client, "alice")
    response = post_form(client, "/settings/tokens", note="laptop npm", scopes=["read:packages", "write:packages"],
                         expires_in="30d")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = re.search(r'id="new-token-secret">(apt_[^<]+)<', html).group(1)
    token = find_token(secret)
    assert token.user_id == alice.id and token.note == "laptop npm"
    assert token.scope_set == {"read:packages", "write:packages"} and token.expires_at is not None
    # Shown once: the list names it but never shows the secret again.
    listing = client.get("/settings/tokens").get_data(as_text=True)
    assert "laptop npm" in listing and secret not in listing and "never used" not in listing


@pytest.mark.parametrize("fields, message", [
    ({"scopes": []}, "name at least one scope"),
    ({"scopes": ["admin:everything"]}, "unknown scope"),
    ({"scopes": ["read:packages"], "expires_in": "soon"}, "expected a duration"),
    ({"scopes": ["read:packages"], "note": "x" * 256}, "at most 255 characters"),
])
def test_the_cli_rules_refuse_what_they_refuse(client, alice, fields, message):
    sign_in(client, "alice")
    response = post_form(client, "/settings/tokens", **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert Token.select().count() == 0


def test_tokens_are_listed_with_last_use_and_revoked(client, alice):
    bob = create_user("bob", password="bob-password")
    _, used = issue_token(alice, ["read:packages"], note="ci")
    issue_token(bob, ["read:packages"], note="bob's")
    find_token(used)
    sign_in(client, "alice")
    html = client.get("/settings/tokens").get_data(as_text=True)
    assert "ci" in html and "bob&#39;s" not in html and "never used" not in html
    token_id = Token.get(Token.note == "ci").id
    response = post_form(client, "/settings/tokens", f"/settings/tokens/{token_id}/revoke")
    assert response.status_code == 302
    assert find_token(used) is None
    assert "revoked" in client.get("/settings/tokens").get_data(as_text=True)


def test_nobody_revokes_another_persons_token(client, alice):
    bob = create_user("bob")
    bob_token, secret = issue_token(bob, ["read:packages"])
    sign_in(client, "alice")
    response = post_form(client, "/settings/tokens", f"/settings/tokens/{bob_token.id}/revoke")
    assert response.status_code == 404
    assert find_token(secret) is not None


def test_revoking_needs_the_csrf_token(client, alice):
    token, secret = issue_token(alice, ["read:packages"])
    sign_in(client, "alice")
    assert csrf_token(client.get("/settings/tokens").get_data(as_text=True))
    assert client.post(f"/settings/tokens/{token.id}/revoke").status_code == 400
    assert find_token(secret) is not None
