"""Issuing and checking tokens. A secret is shown once; only its sha256 is stored."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.repositories import Repository
from appliance.models.tokens import SCOPES, Token

# A recognisable prefix lets secret scanners and people tell an appliance token from other secrets.
TOKEN_PREFIX = "apt_"


class InvalidScopes(ValueError):
    pass


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidScopes(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration like 30m, 12h, 30d or 4w, got {text!r}")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def issue_token(
    user: Account,
    scopes: list[str],
    *,
    expires_in: dt.timedelta | None = None,
    note: str = "",
    repository: Repository | None = None,
) -> tuple[Token, str]:
    """Create a token for `user`; returns the row and the secret, which is never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = Token.create(
        user=user,
        token_hash=hash_secret(secret),
        scopes=",".join(scopes),
        note=note,
        repository=repository,
        expires_at=utcnow() + expires_in if expires_in is not None else None,
    )
    return token, secret


def find_token(secret: str) -> Token | None:
    """The live token for `secret`, or None when it is unknown, revoked, expired or its user suspended."""
    return _live(Token.get_or_none(Token.token_hash == hash_secret(secret)))


def find_token_by_id(token_id: int) -> Token | None:
    """The live token with this id (a credential derived from a token, such as a Docker registry
    bearer token, names it): None when it is revoked, expired or its user suspended."""
    return _live(Token.get_or_none(Token.id == token_id))


def _live(token: Token | None) -> Token | None:
    if token is None or token.revoked_at is not None or token.user.suspended:
        return None
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    # Recording every use would write on every read; a minute's precision is enough for the UI.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        Token.update(last_used_at=now).where(Token.id == token.id).execute()
    return token
