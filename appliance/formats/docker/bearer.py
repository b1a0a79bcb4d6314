"""The short-lived bearer tokens of Docker's token flow: a small JSON payload (who, which token, the
granted repository actions, expiry) signed with HMAC-SHA256 under a key from the appliance's secret.

Stateless, so any worker or node checks a token another one issued; the personal or job token it was
traded for is looked up on every use, so revoking that stops the bearer token too.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

PREFIX = "dkr1."
LIFETIME_SECONDS = 900
CATALOG_SCOPE = "registry:catalog"


class InvalidBearer(Exception):
    pass


@dataclass(frozen=True)
class Grant:
    """What a bearer token may do: `access` maps an image name (or `registry:catalog`) to actions."""

    user_id: int | None
    token_id: int | None
    access: dict[str, frozenset[str]] = field(default_factory=dict)
    expires_at: int = 0

    def allows(self, name: str, action: str) -> bool:
        actions = self.access.get(name, frozenset())
        return action in actions or "*" in actions


def signing_key(secret_key: str) -> bytes:
    """A key of its own for these tokens, so a signature here is worth nothing anywhere else."""
    return hmac.new(secret_key.encode(), b"docker registry bearer token", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, grant: Grant) -> str:
    payload = {"u": grant.user_id, "t": grant.token_id, "exp": grant.expires_at,
               "a": {name: sorted(actions) for name, actions in grant.access.items()}}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{body}.{signature}"


def is_bearer(text: str) -> bool:
    return text.startswith(PREFIX)


def verify(key: bytes, text: str, now: float) -> Grant:
    """The grant of a token this appliance issued, or InvalidBearer when it is forged or expired."""
    # what this appliance issues is ASCII; compare_digest and encode() would fail on other text
    if not text.isascii() or not text.startswith(PREFIX):
        raise InvalidBearer("the registry token is not valid: log in again")
    body, _, signature = text.removeprefix(PREFIX).partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        raise InvalidBearer("the registry token is not valid: log in again")
    try:
        payload = json.loads(_unb64(body))
        grant = Grant(payload["u"], payload["t"], {k: frozenset(v) for k, v in payload["a"].items()},
                      int(payload["exp"]))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        raise InvalidBearer("the registry token is not valid: log in again") from None
    if grant.expires_at <= now:
        raise InvalidBearer("the registry token has expired: ask for a new one")
    return grant


def parse_scope(text: str) -> tuple[str, str, frozenset[str]] | None:
    """`repository:NAME:pull,push` → (type, name, actions); None for what is not a scope."""
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name or not actions:
        return None
    return kind, name, frozenset(a for a in actions.split(",") if a)
