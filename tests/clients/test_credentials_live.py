"""A revoked token or a suspended user stops working on every worker within a second, though each
worker keeps what it learned of a token for that second (`appliance.auth.recent`)."""
from __future__ import annotations

import time

import pytest
import requests

from appliance.auth.recent import LIFETIME
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.tokens import Token


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
    time.sleep(LIFETIME)
    assert set(whoami(live, secret)) == {401}
