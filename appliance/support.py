"""Where people are sent for help, and the request id that lets the site administrators find a request
in the log: every error page, the footer and every 5xx answer of every registry carry both.

The contact follows the edition: the site administrators' `support_contact`, or in `cloud` the vendor's
support and feedback forms (`support_url`, `feedback_url`). The id comes from the `X-Request-Id` a proxy
sent, or is made here; it is answered in `X-Request-Id` and written in the access log beside the request.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from flask import has_request_context, request

from appliance.settings import RuntimeSettings, current_settings

REQUEST_ID_KEY = "appliance.request_id"
REQUEST_ID_HEADER = "X-Request-Id"
# What a proxy may hand over as the id: short and printable, so it is safe in logs and headers.
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id() -> str:
    """This request's id (made on first use); "" outside a request."""
    if not has_request_context():
        return ""
    environ = request.environ
    rid = environ.get(REQUEST_ID_KEY)
    if rid is None:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        rid = environ[REQUEST_ID_KEY] = given if _GIVEN_ID.match(given) else uuid.uuid4().hex
    return rid


@dataclass(frozen=True)
class Contact:
    text: str  # one sentence for a page or a client's error line
    href: str | None  # where a link goes (mailto: for an address), None when there is nowhere to link
    feedback_href: str | None = None


def _href(contact: str) -> str:
    return f"mailto:{contact}" if "@" in contact and "://" not in contact else contact


def contact(settings: RuntimeSettings | None = None) -> Contact:
    """Where this edition sends people for help."""
    settings = settings or current_settings()
    if settings.edition.vendor_support:
        url = settings["support_url"]
        feedback = settings["feedback_url"] or None
        if url:
            return Contact(f"Need help? Contact support: {url}", url, feedback)
        return Contact("Need help? Contact the vendor's support.", None, feedback)
    address = settings["support_contact"]
    if not address:
        return Contact("Need help? Ask the site administrators of this appliance.", None)
    return Contact(f"Need help? Contact the site administrators: {address}", _href(address))


def support_line(settings: RuntimeSettings | None = None) -> str:
    """What a registry's error answer ends with: whom to ask, and the id to give them."""
    settings = settings or current_settings()
    settings_contact = contact(settings)
    where = settings_contact.href.removeprefix("mailto:") if settings_contact.href else None
    if settings.edition.vendor_support:
        whom = f"contact support at {where}" if where else "contact the vendor's support"
    else:
        whom = f"contact the site administrators at {where}" if where else "ask the site administrators"
    return f"{whom} and give them request id {request_id()}"
