"""Where each registry is served: `FORMAT.HOSTNAME/` with subdomain isolation, and `HOSTNAME/_registry/FORMAT/`
always (Docker: on `docker.HOSTNAME` only, with isolation). Both layouts reach the same blueprint; the
settings of the moment decide which ones answer.
"""
from __future__ import annotations

from flask import request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from appliance.settings import FORMATS, current_settings

REGISTRY_PREFIX = "/_registry"
SUBDOMAIN_KEY = "appliance.registry_subdomain"
# Every format but Docker is also served under HOSTNAME/_registry/FORMAT/, whatever subdomain_isolation says.
PATH_LAYOUT_FORMATS = tuple(fmt for fmt in FORMATS if fmt != "docker")


class SubdomainDispatch:
    """WSGI middleware: a request to `npm.ANYHOST/x` continues as `/_registry/npm/x`.

    It only looks at the first label of the Host; whether that host is really this appliance's, and
    whether subdomain isolation is on, is checked per request against the runtime settings
    (`registry_layout_error`), which this middleware cannot read.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST", "").split(":")[0].lower()
        label, _, rest = host.partition(".")
        if label in FORMATS and rest:
            environ[SUBDOMAIN_KEY] = label
            environ["PATH_INFO"] = f"{REGISTRY_PREFIX}/{label}{environ.get('PATH_INFO', '') or '/'}"
        return self.app(environ, start_response)


def request_host() -> str:
    return request.host.split(":")[0].lower()


def request_port_suffix() -> str:
    host = request.host
    if host.startswith("["):  # IPv6 literal
        _, _, rest = host.partition("]")
        return rest
    _, sep, port = host.partition(":")
    return f":{port}" if sep else ""


def registry_layout_error(fmt: str) -> str | None:
    """Why this request may not reach the `fmt` registry the way it came, or None when it may.

    The path layout answers whether or not subdomain isolation is on, so URLs configured in clients
    keep working when it is toggled; Docker, whose clients need a registry at the root of a host, is
    served on `docker.HOSTNAME` only, and the subdomains only while isolation is on."""
    settings = current_settings()
    hostname = settings["hostname"]
    via_subdomain = request.environ.get(SUBDOMAIN_KEY) == fmt
    if _on_subdomain(settings, fmt):
        if not via_subdomain:
            if fmt in PATH_LAYOUT_FORMATS:
                return None
            return f"the {fmt} registry is served at {registry_url(fmt)} (subdomain isolation is on)"
        if request_host() != f"{fmt}.{hostname}":
            return f"unknown host {request_host()}: the {fmt} registry is {registry_url(fmt)}"
        return None
    if via_subdomain:
        return f"the {fmt} registry is served at {registry_url(fmt)} (subdomain isolation is off)"
    return None


def _on_subdomain(settings, fmt: str) -> bool:
    """Whether `fmt` answers on FORMAT.HOSTNAME: with isolation on; Docker also where the edition always
    serves it there (cloud)."""
    return bool(settings["subdomain_isolation"]) or (fmt == "docker" and settings.docker_available())


def registry_url(fmt: str) -> str:
    """The base URL of the `fmt` registry, ending in '/', as clients should be told it: in the layout
    the request came by (a subdomain while isolation is on; Docker always on its subdomain)."""
    settings = current_settings()
    hostname = settings["hostname"]
    origin_suffix = request_port_suffix()
    via_subdomain = request.environ.get(SUBDOMAIN_KEY) == fmt
    if _on_subdomain(settings, fmt) and (via_subdomain or fmt not in PATH_LAYOUT_FORMATS):
        return f"{request.scheme}://{fmt}.{hostname}{origin_suffix}/"
    return f"{request.scheme}://{hostname}{origin_suffix}{REGISTRY_PREFIX}/{fmt}/"


def web_url(path: str) -> str:
    """An absolute URL of the appliance's web pages (on HOSTNAME, never a registry subdomain)."""
    return f"{request.scheme}://{current_settings()['hostname']}{request_port_suffix()}{path}"


def package_page_url(owner_login: str, owner_is_organization: bool, fmt: str, name: str) -> str:
    """The web page of a package, in DESIGN.md's shape: /orgs/ORG/... or /users/USER/packages/FMT/package/NAME
    (NAME URL-encoded); `name` may be a template placeholder such as NuGet's {id}, kept as it is."""
    from urllib.parse import quote

    kind = "orgs" if owner_is_organization else "users"
    encoded = name if name.startswith("{") and name.endswith("}") else quote(name, safe=":")
    return web_url(f"/{kind}/{owner_login}/packages/{fmt}/package/{encoded}")


def advertised_registry_url(fmt: str) -> str | None:
    """The base URL of the `fmt` registry, ending in '/', as pages tell people to configure it: on
    `fmt.HOSTNAME` while subdomain isolation is on, else the path layout; None for Docker without
    isolation (it has no other home). Scheme and port are those of the request."""
    settings = current_settings()
    hostname = settings["hostname"]
    if _on_subdomain(settings, fmt):
        return f"{request.scheme}://{fmt}.{hostname}{request_port_suffix()}/"
    if fmt not in PATH_LAYOUT_FORMATS:
        return None
    return f"{request.scheme}://{hostname}{request_port_suffix()}{REGISTRY_PREFIX}/{fmt}/"


def unrouted_error(fmt: str) -> NotFound | MethodNotAllowed | None:
    """The routing error of a request under the `fmt` registry that matched no rule, else None: Flask
    hands such a request to no blueprint, so each registry answers it in its own shape."""
    error = request.routing_exception
    prefix = f"{REGISTRY_PREFIX}/{fmt}"
    if isinstance(error, NotFound | MethodNotAllowed) and (
            request.path == prefix or request.path.startswith(f"{prefix}/")):
        return error
    return None


def registry_unavailable(fmt: str) -> str | None:
    """Why the `fmt` registry answers nothing of this request the way it came (the URL layout), or None.
    Maintenance and a format switched off are answered before this, by the gate (formats/gate.py)."""
    return registry_layout_error(fmt)
