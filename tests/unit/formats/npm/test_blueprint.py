"""npm answers for URLs that match no route of the npm blueprint, in-process with the Flask client.

Flask hands a request that matches no rule to no blueprint, so the blueprint's own gate and error
handlers never see it: these answers come from the blueprint's app-wide hook, in npm's error shape.
"""
from __future__ import annotations

import pytest

from appliance.settings import store_setting


@pytest.fixture
def path_layout(app):
    store_setting("subdomain_isolation", False)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    assert list(response.json) == ["error"]
    return response.json["error"]


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", "/_registry/npm/-/no-such-endpoint", 404, "not found"),
    ("GET", "/_registry/npm/", 404, "not found"),
    ("GET", "/_registry/npm", 404, "not found"),
    ("PATCH", "/_registry/npm/-/ping", 405, "PATCH is not supported here"),
    ("PUT", "/_registry/npm/@alice/hello/1.0.0", 405, "PUT is not supported here"),
    ("GET", "/_registry/npm/@alice/hello/1.0.0/extra", 404, "not found"),
    ("PUT", "/_registry/npm/@alice/../x", 400, "package name '@alice/..': '..' must not start with '.' or '_'"),
    ("GET", "/_registry/npm/@alice", 400, "package name '@alice/' has nothing after the scope: use @OWNER/NAME"),
    ("GET", "/_registry/npm/lodash", 400, "packages on this registry are scoped: @OWNER/NAME, not 'lodash'"),
    ("GET", "/_registry/npm/lodash/-/lodash-4.17.21.tgz", 400,
     "packages on this registry are scoped: @OWNER/NAME, not 'lodash'"),
])
def test_unrouted_requests_are_answered_in_npm_shape(client, path_layout, method, path, status, message):
    assert error_of(client.open(path, method=method), status) == message


def test_unrouted_requests_meet_the_layout_and_the_format_switch(client, app):
    # subdomain isolation is on by default, and the path layout answers too
    assert error_of(client.get("/_registry/npm/-/no-such-endpoint"), 404) == "not found"
    assert error_of(client.get("/-/no-such-endpoint", headers={"Host": "npm.localhost"}), 404) == "not found"
    store_setting("formats.npm.enabled", False)
    response = client.get("/-/no-such-endpoint", headers={"Host": "npm.localhost"})
    assert error_of(response, 403).startswith("the npm registry is switched off on this appliance by its site "
                                              "administrators (setting formats.npm.enabled); ask the site")


def test_other_paths_keep_the_application_answer(client, path_layout):
    assert client.get("/no-such-page").mimetype == "text/html"
    assert client.get("/_registry/npmish/x").mimetype == "text/html"
