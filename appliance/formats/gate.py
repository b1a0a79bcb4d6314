"""What every registry answers before its own rules: maintenance (503 with Retry-After and the message),
a format switched off (403 naming the setting and whom to ask, never a 404) and its 5xx answers, each in
its client's own error shape, carrying the edition's contact and the request id (appliance.support).

Installed by the app factory ahead of the registries' blueprints, so one gate holds for all five.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

from appliance.formats.docker.blueprint import oci_error
from appliance.formats.maven.blueprint import maven_error
from appliance.formats.npm.blueprint import npm_error
from appliance.formats.nuget.blueprint import nuget_error
from appliance.formats.routing import REGISTRY_PREFIX
from appliance.formats.rubygems.blueprint import text_response
from appliance.settings import FORMATS, current_settings
from appliance.support import support_line
from appliance.web.reason_phrase import reason_phrase

# Docker clients first ping /v2/ and fetch a token, and print only the status of a refusal there; let them
# through, so the maintenance message (or that Docker is switched off) comes on the request that follows,
# in the body they print.
HANDSHAKES = frozenset({f"{REGISTRY_PREFIX}/docker/v2/", f"{REGISTRY_PREFIX}/docker/token"})
OCI_CODES = {403: "DENIED", 500: "UNKNOWN", 503: "UNAVAILABLE"}

# One error answer per client: (status, message) -> the response its client prints as one line.
ERROR_SHAPES: dict[str, Callable[[int, str], Response]] = {
    "npm": npm_error,
    "rubygems": lambda status, message: text_response(message, status),
    "maven": maven_error,
    "nuget": nuget_error,
    "docker": lambda status, message: _oci_error(status, message),
}


def _oci_error(status: int, message: str) -> Response:
    """The spec's error body; skopeo and docker print only the status line of a 5xx, so the message goes
    in its reason phrase too."""
    response = oci_error(status, OCI_CODES.get(status, "UNKNOWN"), message)
    if status >= 500:
        response.status = f"{status} {reason_phrase(message)}"
    return response


def registry_of_request() -> str | None:
    """The format whose registry this request is for (either layout: subdomains arrive rewritten)."""
    path = request.path
    if not path.startswith(f"{REGISTRY_PREFIX}/"):
        return None
    fmt = path[len(REGISTRY_PREFIX) + 1:].partition("/")[0]
    return fmt if fmt in FORMATS else None


def registry_error(fmt: str, status: int, message: str) -> Response:
    return ERROR_SHAPES[fmt](status, message)


def maintenance_answer(fmt: str) -> Response:
    settings = current_settings()
    message = f"{settings['maintenance_message']} (maintenance mode; {support_line(settings)})"
    response = registry_error(fmt, 503, message)
    response.headers["Retry-After"] = str(settings["maintenance_retry_after"])
    return response


def format_disabled_message(fmt: str) -> str:
    return (f"the {fmt} registry is switched off on this appliance by its site administrators (setting "
            f"formats.{fmt}.enabled); {support_line()}")


def closed_registry_answer() -> Response | None:
    """The answer of a registry that is not open to this request now (maintenance, switched off), or None."""
    fmt = registry_of_request()
    if fmt is None:
        return None
    settings = current_settings()
    if settings.in_maintenance() and request.path not in HANDSHAKES:
        return maintenance_answer(fmt)
    if not settings.format_enabled(fmt) and request.path not in HANDSHAKES:
        return registry_error(fmt, 403, format_disabled_message(fmt))
    return None


def install_registry_gate(app: Flask) -> None:
    """Call before the registries' blueprints are registered: this gate runs ahead of theirs."""
    app.before_request(closed_registry_answer)


def internal_error_answer() -> Response | None:
    """A registry's answer to a request that failed inside the appliance, or None off the registries."""
    fmt = registry_of_request()
    if fmt is None:
        return None
    return registry_error(fmt, 500, f"internal error of the appliance: {support_line()}")
