"""Where each registry is served (formats/routing.py): the subdomain middleware, the layout a request
came by, the URLs clients are told, and a registry switched off."""
from __future__ import annotations

import contextlib

import pytest

from appliance.formats.routing import (
    SUBDOMAIN_KEY,
    SubdomainDispatch,
    package_page_url,
    registry_layout_error,
    registry_unavailable,
    registry_url,
    request_port_suffix,
    web_url,
)
from appliance.settings import store_setting


def dispatched(host: str, path: str = "/x") -> dict:
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    SubdomainDispatch(app)({"HTTP_HOST": host, "PATH_INFO": path}, None)
    return seen


def test_a_registry_subdomain_continues_under_its_path():
    environ = dispatched("npm.appliance.test:8080", "/@alice/lib")
    assert (environ["PATH_INFO"], environ[SUBDOMAIN_KEY]) == ("/_registry/npm/@alice/lib", "npm")
    assert dispatched("docker.appliance.test", "")["PATH_INFO"] == "/_registry/docker/"
    for host in ("appliance.test", "npm", "www.appliance.test", "npmx.appliance.test"):
        environ = dispatched(host)
        assert environ["PATH_INFO"] == "/x" and SUBDOMAIN_KEY not in environ


@pytest.fixture
def hostname(app):
    store_setting("hostname", "appliance.test")


@contextlib.contextmanager
def request_for(app, host: str, fmt: str | None = None):
    """A request of its own (a new application context too, so settings stored since are read)."""
    environ = {SUBDOMAIN_KEY: fmt} if fmt else {}
    with app.app_context(), app.test_request_context("/", base_url=f"http://{host}/", environ_overrides=environ):
        yield


def test_with_isolation_the_path_layout_still_answers_but_docker_needs_its_subdomain(app, hostname):
    store_setting("subdomain_isolation", True)
    with request_for(app, "appliance.test:8080"):
        assert registry_layout_error("npm") is None
        assert registry_url("npm") == "http://appliance.test:8080/_registry/npm/"
        assert registry_layout_error("docker") == ("the docker registry is served at "
                                                   "http://docker.appliance.test:8080/ (subdomain isolation is on)")
    with request_for(app, "npm.appliance.test:8080", "npm"):
        assert registry_layout_error("npm") is None
        assert registry_url("npm") == "http://npm.appliance.test:8080/"
        assert request_port_suffix() == ":8080"
        assert web_url("/login") == "http://appliance.test:8080/login"
    with request_for(app, "npm.elsewhere.test", "npm"):
        assert registry_layout_error("npm") == ("unknown host npm.elsewhere.test: the npm registry is "
                                                "http://npm.appliance.test/")


def test_without_isolation_subdomains_are_refused(app, hostname):
    store_setting("subdomain_isolation", False)
    with request_for(app, "npm.appliance.test", "npm"):
        assert registry_layout_error("npm") == ("the npm registry is served at "
                                                "http://appliance.test/_registry/npm/ (subdomain isolation is off)")
    with request_for(app, "appliance.test"):
        assert registry_layout_error("docker") is None
        assert registry_url("docker") == "http://appliance.test/_registry/docker/"


def test_unavailable_is_the_layout_error(app, hostname):
    """A format switched off is answered by the gate before routing (formats/gate.py); here only the
    layout counts."""
    store_setting("subdomain_isolation", False)
    with request_for(app, "appliance.test"):
        assert registry_unavailable("nuget") is None
    with request_for(app, "nuget.appliance.test", "nuget"):
        assert registry_unavailable("nuget") == registry_layout_error("nuget") is not None


def test_ports_of_ipv6_hosts(app):
    with app.test_request_context("/", base_url="http://[::1]:9000/"):
        assert request_port_suffix() == ":9000"
    with app.test_request_context("/", base_url="http://[::1]/"):
        assert request_port_suffix() == ""


def test_package_pages(app, hostname):
    with request_for(app, "appliance.test"):
        assert package_page_url("acme", True, "npm", "@acme/lib") == (
            "http://appliance.test/orgs/acme/packages/npm/package/%40acme%2Flib")
        assert package_page_url("alice", False, "maven", "com.example:lib") == (
            "http://appliance.test/users/alice/packages/maven/package/com.example:lib")
        assert package_page_url("alice", False, "nuget", "{id}").endswith("/package/{id}")
