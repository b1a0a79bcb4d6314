"""The URLs the API prints: on the appliance's `hostname` with the port the request came on, the way
the registries print theirs."""
from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import quote

from flask import has_request_context, request

from appliance.formats.routing import request_port_suffix
from appliance.settings import current_settings


def web_origin() -> str:
    """The appliance's origin as the caller reached it; outside a request (the scheduler, the CLI)
    HTTPS on the hostname, as production serves it behind nginx."""
    hostname = current_settings()["hostname"]
    if not has_request_context():
        return f"https://{hostname}"
    return f"{request.scheme}://{hostname}{request_port_suffix()}"


def api_root() -> str:
    return f"{web_origin()}/api/v3"


def segment(text: str) -> str:
    """One path segment: a package name keeps its characters but '/' (`@acme%2Fhello`)."""
    return quote(text, safe="@:")


def node_id(kind: str, ident: int) -> str:
    """GitHub's global id for an object (its legacy form, `base64("04:User1")`): stable for the object's
    life, the same in REST's `node_id` and GraphQL's `id`."""
    return base64.b64encode(f"{len(kind):02d}:{kind}{ident}".encode()).decode()


def parse_node_id(text: str) -> tuple[str, int] | None:
    try:
        decoded = base64.b64decode(text.encode(), validate=True).decode()
        length, _, rest = decoded.partition(":")
        kind, ident = rest[: int(length)], int(rest[int(length):])
    except (ValueError, UnicodeDecodeError):
        return None
    return (kind, ident) if kind else None


def timestamp(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as GitHub writes times (the database keeps naive UTC)."""
    if value is None:
        return None
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
