"""Docker registry bearer tokens: signed, expiring, carrying their grant."""
from __future__ import annotations

import pytest

from appliance.formats.docker import bearer

KEY = bearer.signing_key("secret")


def grant(expires_at=2000, **access):
    return bearer.Grant(7, 3, {k.replace("_", "/"): frozenset(v) for k, v in access.items()}, expires_at)


def test_a_token_carries_its_grant():
    token = bearer.issue(KEY, grant(alice_libs_app={"pull", "push"}))
    assert bearer.is_bearer(token)
    verified = bearer.verify(KEY, token, now=1000)
    assert (verified.user_id, verified.token_id) == (7, 3)
    assert verified.allows("alice/libs/app", "push")
    assert not verified.allows("alice/libs/app", "delete")
    assert not verified.allows("alice/libs/other", "pull")


def test_a_wildcard_allows_every_action():
    assert bearer.verify(KEY, bearer.issue(KEY, grant(**{"registry:catalog": {"*"}})), now=0).allows(
        "registry:catalog", "*")


def test_expired_forged_and_foreign_tokens_are_refused():
    token = bearer.issue(KEY, grant(alice_libs_app={"pull"}))
    with pytest.raises(bearer.InvalidBearer, match="expired"):
        bearer.verify(KEY, token, now=2000)
    with pytest.raises(bearer.InvalidBearer):
        bearer.verify(bearer.signing_key("other secret"), token, now=0)
    signature = token.rpartition(".")[2]
    wider = bearer.issue(bearer.signing_key("attacker"), grant(alice_libs_app={"pull", "push", "delete"}))
    forged = wider.rpartition(".")[0] + "." + signature
    with pytest.raises(bearer.InvalidBearer):
        bearer.verify(KEY, forged, now=0)
    with pytest.raises(bearer.InvalidBearer):
        bearer.verify(KEY, "dkr1.garbage", now=0)


@pytest.mark.parametrize("text, parsed", [
    ("repository:alice/libs/app:pull,push", ("repository", "alice/libs/app", frozenset({"pull", "push"}))),
    ("registry:catalog:*", ("registry", "catalog", frozenset({"*"}))),
    ("repository:localhost:5000/a/b/c:pull", ("repository", "localhost:5000/a/b/c", frozenset({"pull"}))),
    ("nonsense", None),
    ("repository:x:", None),
])
def test_scopes(text, parsed):
    assert bearer.parse_scope(text) == parsed


@pytest.mark.parametrize("text", ["dkr1.e30.\xe9", "dkr1.\xe9.\xe9", "dkr1.e30.\ud800", "dkr1.", "dkr1.\x00.x"])
def test_any_text_is_refused_as_a_token_never_an_error(text):
    with pytest.raises(bearer.InvalidBearer):
        bearer.verify(KEY, text, now=0)
