"""Reading the credentials each native client sends, and turning them into an Actor.

Every credential header of every registry is decoded here and only here. A header is whatever bytes a
client sent (WSGI hands them over as latin-1 text); anything that is not a well-formed credential is
BadCredentials, which each registry answers with its client's 401 challenge, never an error of ours.
"""
from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from flask import Request

from appliance.auth.permissions import ANONYMOUS, Actor
from appliance.auth.recent import remembered
from appliance.auth.tokens import find_token, hash_secret, live_for_a_second

# Tokens, base64 and every scheme name are printable ASCII; nothing else can be a credential.
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
# Headers are bounded by the HTTP server; this keeps a pathological one from being decoded at all.
MAX_CREDENTIAL_LENGTH = 8192
NUGET_KEY_HEADER = "X-NuGet-ApiKey"


class BadCredentials(Exception):
    """Credentials were sent but are not valid: the request is refused, never treated as anonymous."""

    def __init__(self, message: str = "bad credentials: the token is unknown, expired or revoked"):
        super().__init__(message)


@dataclass(frozen=True)
class Credentials:
    """What a request presents: `scheme` is "basic" (user and secret), "bearer" (Bearer or token),
    or "key" (X-NuGet-ApiKey, or the bare key RubyGems sends as Authorization)."""

    scheme: str
    secret: str
    user: str | None = None


def _printable(value: str, what: str) -> str:
    if len(value) > MAX_CREDENTIAL_LENGTH or not _PRINTABLE.fullmatch(value):
        raise BadCredentials(f"malformed {what}: credentials are printable ASCII")
    return value


def _basic(value: str) -> Credentials:
    try:
        decoded = binascii.a2b_base64(_printable(value, "HTTP Basic credentials"), strict_mode=True)
        user, colon, password = decoded.decode("utf-8").partition(":")
    except (BadCredentials, binascii.Error, UnicodeDecodeError):
        raise BadCredentials("malformed HTTP Basic credentials") from None
    if not colon or not password:
        raise BadCredentials("HTTP Basic credentials need a token as the password")
    return Credentials("basic", _printable(password, "HTTP Basic password"), user)


def credentials_from_request(request: Request) -> Credentials | None:
    """The credentials of the request's headers, or None when it sent none; BadCredentials for any
    header that is not a credential this appliance reads, whatever its bytes.

    Bearer / token schemes (npm, REST, Docker registry tokens), HTTP Basic with the token as password
    (mvn, gradle, bundler, docker login), X-NuGet-ApiKey (nuget push), and the bare key RubyGems sends
    as Authorization. The NuGet key wins when both come.
    """
    api_key = request.headers.get(NUGET_KEY_HEADER, "").strip()
    if api_key:
        return Credentials("key", _printable(api_key, NUGET_KEY_HEADER))
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    scheme_lower = scheme.lower()
    if scheme_lower == "basic":
        return _basic(value)
    if scheme_lower in ("bearer", "token") and value:
        return Credentials("bearer", _printable(value, "bearer token"))
    if not value:
        return Credentials("key", _printable(scheme, "API key"))  # RubyGems sends the key alone
    raise BadCredentials(f"unsupported authorization scheme {_printable(scheme, 'authorization scheme')!r}")


def token_from_request(request: Request) -> str | None:
    """The token secret from whichever header the client uses, or None when it sent none."""
    credentials = credentials_from_request(request)
    return credentials.secret if credentials else None


def actor_for_secret(secret: str) -> Actor:
    """The Actor of a personal or job token's secret; BadCredentials when it is not a live one."""
    token = remembered(("token", hash_secret(secret)), lambda: find_token(secret), keep=live_for_a_second)
    if token is None:
        raise BadCredentials()
    return Actor(user=token.user, token=token)


def actor_for_credentials(credentials: Credentials | None) -> Actor:
    return ANONYMOUS if credentials is None else actor_for_secret(credentials.secret)


def actor_from_request(request: Request) -> Actor:
    return actor_for_credentials(credentials_from_request(request))


def actor_from_basic(request: Request) -> Actor:
    """The Actor of HTTP Basic credentials, or ANONYMOUS when none came: for endpoints that trade a
    user's own credentials for another (Docker's /token), where a derived credential must never do."""
    credentials = credentials_from_request(request)
    if credentials is None:
        return ANONYMOUS
    if credentials.scheme != "basic":
        raise BadCredentials("this endpoint takes HTTP Basic credentials (a user name and a token) or none")
    return actor_for_secret(credentials.secret)
