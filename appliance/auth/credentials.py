"""Reading the credentials each native client sends, and turning them into an Actor."""
from __future__ import annotations

import base64
import binascii

from flask import Request

from appliance.auth.permissions import ANONYMOUS, Actor
from appliance.auth.tokens import find_token


class BadCredentials(Exception):
    """Credentials were sent but are not valid: the request is refused, never treated as anonymous."""

    def __init__(self, message: str = "bad credentials: the token is unknown, expired or revoked"):
        super().__init__(message)


def token_from_request(request: Request) -> str | None:
    """The token secret from whichever header the client uses, or None when it sent none.

    Bearer / token schemes (npm, REST), HTTP Basic with the token as password (mvn, gradle, bundler,
    docker login), X-NuGet-ApiKey (nuget push), and the bare key RubyGems sends as Authorization.
    """
    api_key = request.headers.get("X-NuGet-ApiKey")
    if api_key:
        return api_key.strip()
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme_lower = scheme.lower()
    if scheme_lower in ("bearer", "token") and value.strip():
        return value.strip()
    if scheme_lower == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadCredentials("malformed HTTP Basic credentials") from None
        _, _, password = decoded.partition(":")
        if not password:
            raise BadCredentials("HTTP Basic credentials need a token as the password")
        return password
    if not value:
        return scheme  # RubyGems sends the key alone
    raise BadCredentials(f"unsupported authorization scheme {scheme!r}")


def actor_from_request(request: Request) -> Actor:
    secret = token_from_request(request)
    if secret is None:
        return ANONYMOUS
    token = find_token(secret)
    if token is None:
        raise BadCredentials()
    return Actor(user=token.user, token=token)
