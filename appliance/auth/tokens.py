"""Issuing and checking tokens. A secret is shown once; only its sha256 is stored."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from appliance.auth.recent import LIFETIME
from appliance.db import Statement
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.repositories import Repository
from appliance.models.tokens import SCOPES, Token

# A recognisable prefix lets secret scanners and people tell an appliance token from other secrets.
TOKEN_PREFIX = "apt_"
NOTE_MAX = 255


class TokenError(Exception):
    """A token request that cannot be done; the message says why."""


class InvalidScopes(TokenError):
    pass


class InvalidTokenRequest(TokenError):
    """A duration or note a token cannot have."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidScopes(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    if not scopes:
        raise InvalidScopes(f"name at least one scope: {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidTokenRequest(f"expected a duration like 30m, 12h, 30d or 4w, got {text!r}")
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
    if len(note) > NOTE_MAX:
        raise InvalidTokenRequest(f"a token's note is at most {NOTE_MAX} characters")
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
    return _live(TOKEN_BY_HASH.first(hash_secret(secret)))


def find_token_by_id(token_id: int) -> Token | None:
    """The live token with this id (a credential derived from a token, such as a Docker registry
    bearer token, names it): None when it is revoked, expired or its user suspended."""
    return _live(TOKEN_BY_ID.first(token_id))


def _with_user():
    return Token.select(Token, Account).join(Account, on=(Token.user == Account.id))


TOKEN_BY_HASH = Statement(lambda token_hash: _with_user().where(Token.token_hash == token_hash).limit(1))
TOKEN_BY_ID = Statement(lambda id: _with_user().where(Token.id == id).limit(1))

def live_for_a_second(token: Token | None) -> bool:
    """Whether a looked-up token may be kept for the next second (`appliance.auth.recent`): it is live
    and does not expire within that second."""
    return token is not None and (token.expires_at is None
                                  or token.expires_at - utcnow() > dt.timedelta(seconds=LIFETIME))


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


class TokenNotFound(TokenError):
    pass


def list_tokens(user: Account | None = None) -> list[Token]:
    """The tokens of `user` (of everyone when None), newest first, revoked ones included: the CLI's
    `tokens list` and the settings page show the same rows."""
    query = Token.select(Token, Account).join(Account, on=(Token.user == Account.id))
    if user is not None:
        query = query.where(Token.user == user.id)
    return list(query.order_by(Token.created_at.desc(), Token.id.desc()))


def token_state(token: Token, now: dt.datetime | None = None) -> str:
    """"active", "revoked" or "expired", as lists of tokens show it."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def revoke_token(token_id: int, *, user: Account | None = None) -> Token:
    """Revoke the token (only one of `user`'s when given, so a person cannot revoke another's); it stops
    working at once everywhere. Revoking a revoked token changes nothing."""
    query = Token.select().where(Token.id == token_id)
    if user is not None:
        query = query.where(Token.user == user.id)
    token = query.first()
    if token is None:
        raise TokenNotFound(f"no token {token_id}" + (f" of {user.login}" if user is not None else ""))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        Token.update(revoked_at=token.revoked_at).where(Token.id == token.id).execute()
    return token
