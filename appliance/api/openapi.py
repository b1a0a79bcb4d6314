"""The OpenAPI document of what /api/v3 serves, at /api/v3/openapi.json: GitHub's paths, parameters and
shapes for the endpoints the appliance has (tests check every route is in it and every answer matches)."""
from __future__ import annotations

from flask import jsonify

from appliance.api.blueprint import blueprint
from appliance.github.urls import api_root


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(nullable: bool = False, **extra) -> dict:
    return {"type": "string", **({"nullable": True} if nullable else {}), **extra}


def _object(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
URL = _string(format="uri")
TIME = _string(format="date-time")

SIMPLE_USER = _object({
    key: _string() for key in ("login", "node_id", "avatar_url", "gravatar_id", "url", "html_url", "followers_url",
                               "following_url", "gists_url", "starred_url", "subscriptions_url",
                               "organizations_url", "repos_url", "events_url", "received_events_url", "type")
} | {"id": INTEGER, "site_admin": BOOLEAN})

PUBLIC_USER = {"allOf": [SIMPLE_USER, _object({
    "public_repos": INTEGER, "public_gists": INTEGER, "followers": INTEGER, "following": INTEGER,
    "created_at": TIME, "updated_at": TIME}, {"email": _string(nullable=True), "name": _string(nullable=True)})]}

ORGANIZATION = _object({
    "login": _string(), "id": INTEGER, "node_id": _string(), "url": URL, "repos_url": URL, "hooks_url": URL,
    "avatar_url": _string(), "html_url": URL, "type": _string(), "public_repos": INTEGER, "created_at": TIME,
    "updated_at": TIME, "description": _string(nullable=True)})

MINIMAL_REPOSITORY = _object({
    "id": INTEGER, "node_id": _string(), "name": _string(), "full_name": _string(), "private": BOOLEAN,
    "owner": _ref("simple-user"), "html_url": URL, "fork": BOOLEAN, "url": URL,
    "visibility": _string(enum=["public", "private", "internal"]),
    "description": _string(nullable=True)})

FULL_REPOSITORY = {"allOf": [_ref("minimal-repository"), _object(
    {"created_at": TIME, "updated_at": TIME, "default_branch": _string(), "archived": BOOLEAN},
    {"permissions": _object({k: BOOLEAN for k in ("admin", "maintain", "push", "triage", "pull")})})]}

PACKAGE_TYPES = ["npm", "maven", "rubygems", "docker", "nuget", "container"]

PACKAGE = _object({
    "id": INTEGER, "name": _string(), "package_type": _string(enum=PACKAGE_TYPES), "url": URL, "html_url": URL,
    "version_count": INTEGER, "visibility": _string(enum=["public", "private", "internal"]),
    "created_at": TIME, "updated_at": TIME, "owner": _ref("simple-user"),
    "repository": _ref("minimal-repository")})

PACKAGE_VERSION = _object({
    "id": INTEGER, "name": _string(), "url": URL, "package_html_url": URL, "created_at": TIME, "updated_at": TIME,
    "metadata": _object({"package_type": _string(enum=PACKAGE_TYPES)},
                        {"container": _object({"tags": {"type": "array", "items": _string()}})}),
}, {"html_url": URL, "license": _string(nullable=True), "description": _string(nullable=True),
    "deleted_at": TIME})

HOOK = _object({
    "type": _string(), "id": INTEGER, "name": _string(), "active": BOOLEAN,
    "events": {"type": "array", "items": _string()}, "config": _ref("webhook-config"),
    "updated_at": TIME, "created_at": TIME, "url": URL, "ping_url": URL, "deliveries_url": URL,
}, {"test_url": URL, "last_response": _object({}, {"code": {"type": "integer", "nullable": True},
                                                  "status": _string(nullable=True),
                                                  "message": _string(nullable=True)})})

WEBHOOK_CONFIG = _object({}, {"url": URL, "content_type": _string(), "secret": _string(),
                              "insecure_ssl": _string()})

DELIVERY_ITEM = _object({
    "id": INTEGER, "guid": _string(), "delivered_at": TIME, "redelivery": BOOLEAN, "duration": {"type": "number"},
    "status": _string(), "status_code": INTEGER, "event": _string(), "action": _string(nullable=True),
    "installation_id": {"type": "integer", "nullable": True},
    "repository_id": {"type": "integer", "nullable": True}})

DELIVERY = {"allOf": [_ref("hook-delivery-item"), _object({
    "url": URL,
    "request": _object({"headers": {"type": "object"}, "payload": {"type": "object"}}),
    "response": _object({"headers": {"type": "object"}, "payload": _string(nullable=True)})})]}

ERROR = _object({"message": _string(), "documentation_url": _string()})
VALIDATION_ERROR = _object({"message": _string(), "documentation_url": _string()},
                           {"errors": {"type": "array", "items": {"type": "object"}}})

RATE = _object({"limit": INTEGER, "remaining": INTEGER, "reset": INTEGER, "used": INTEGER})

SCHEMAS = {
    "simple-user": SIMPLE_USER, "public-user": PUBLIC_USER, "organization-full": ORGANIZATION,
    "minimal-repository": MINIMAL_REPOSITORY, "full-repository": FULL_REPOSITORY, "package": PACKAGE,
    "package-version": PACKAGE_VERSION, "hook": HOOK, "webhook-config": WEBHOOK_CONFIG,
    "hook-delivery-item": DELIVERY_ITEM, "hook-delivery": DELIVERY, "basic-error": ERROR,
    "validation-error": VALIDATION_ERROR,
    "rate-limit-overview": _object({"resources": _object({"core": RATE}), "rate": RATE}),
    "api-overview": _object({"verifiable_password_authentication": BOOLEAN, "installed_version": _string()}),
    "root": _object({"current_user_url": _string(), "user_url": _string()}),
    "user-or-organization": {"oneOf": [_ref("public-user"), _ref("organization-full")]},
}

RESPONSES = {
    "bad_request": {"description": "Bad Request", "content": {"application/json": {"schema": _ref("basic-error")}}},
    "requires_authentication": {"description": "Requires authentication",
                                "content": {"application/json": {"schema": _ref("basic-error")}}},
    "forbidden": {"description": "Forbidden", "content": {"application/json": {"schema": _ref("basic-error")}}},
    "not_found": {"description": "Resource not found",
                  "content": {"application/json": {"schema": _ref("basic-error")}}},
    "validation_failed": {"description": "Validation failed",
                          "content": {"application/json": {"schema": _ref("validation-error")}}},
}


def _path_param(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query_param(name: str, schema: dict, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGE = _query_param("page", {"type": "integer", "default": 1}, "The page number of the results to fetch.")
PER_PAGE = _query_param("per_page", {"type": "integer", "default": 30}, "The number of results per page (max 100).")
STATE = _query_param("state", {"type": "string", "enum": ["active", "deleted"], "default": "active"})
PACKAGE_TYPE = _path_param("package_type", {"type": "string", "enum": PACKAGE_TYPES})


def _json(schema: dict, description: str = "Response") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(operation_id: str, summary: str, ok: dict, *, status: str = "200", parameters=(),
               body: dict | None = None, errors=("requires_authentication", "forbidden", "not_found")) -> dict:
    responses = {status: ok}
    for name in ("bad_request", *errors):
        responses[{"bad_request": "400", "requires_authentication": "401", "forbidden": "403",
                   "not_found": "404", "validation_failed": "422"}[name]] = {"$ref": f"#/components/responses/{name}"}
    operation = {"operationId": operation_id, "summary": summary, "parameters": list(parameters),
                 "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


NO_CONTENT = {"description": "Response"}


def _package_paths(prefix: str, kind: str, owner_params: list) -> dict:
    name = _path_param("package_name")
    version = _path_param("package_version_id", {"type": "integer"})
    base = f"{prefix}/packages/{{package_type}}/{{package_name}}"
    return {
        f"{prefix}/packages": {"get": _operation(
            f"packages/list-packages-for-{kind}", "List packages", _json({"type": "array", "items": _ref("package")}),
            parameters=[*owner_params, _query_param("package_type", {"type": "string", "enum": PACKAGE_TYPES}),
                        _query_param("visibility", {"type": "string", "enum": ["public", "private", "internal"]}),
                        STATE, PAGE, PER_PAGE])},
        base: {
            "get": _operation(f"packages/get-package-for-{kind}", "Get a package", _json(_ref("package")),
                              parameters=[*owner_params, PACKAGE_TYPE, name]),
            "delete": _operation(f"packages/delete-package-for-{kind}", "Delete a package", NO_CONTENT,
                                 status="204", parameters=[*owner_params, PACKAGE_TYPE, name]),
        },
        f"{base}/restore": {"post": _operation(
            f"packages/restore-package-for-{kind}", "Restore a package", NO_CONTENT, status="204",
            parameters=[*owner_params, PACKAGE_TYPE, name, _query_param("token", {"type": "string"})])},
        f"{base}/versions": {"get": _operation(
            f"packages/get-all-package-versions-for-package-owned-by-{kind}", "List package versions",
            _json({"type": "array", "items": _ref("package-version")}),
            parameters=[*owner_params, PACKAGE_TYPE, name, PAGE, PER_PAGE, STATE])},
        f"{base}/versions/{{package_version_id}}": {
            "get": _operation(f"packages/get-package-version-for-{kind}", "Get a package version",
                              _json(_ref("package-version")), parameters=[*owner_params, PACKAGE_TYPE, name, version]),
            "delete": _operation(f"packages/delete-package-version-for-{kind}", "Delete a package version",
                                 NO_CONTENT, status="204", parameters=[*owner_params, PACKAGE_TYPE, name, version]),
        },
        f"{base}/versions/{{package_version_id}}/restore": {"post": _operation(
            f"packages/restore-package-version-for-{kind}", "Restore a package version", NO_CONTENT, status="204",
            parameters=[*owner_params, PACKAGE_TYPE, name, version])},
        f"{prefix}/docker/conflicts": {"get": _operation(
            f"packages/list-docker-migration-conflicting-packages-for-{kind}",
            "Get list of conflicting packages during Docker migration",
            _json({"type": "array", "items": _ref("package")}), parameters=owner_params)},
    }


HOOK_BODY = {"type": "object", "properties": {
    "name": {"type": "string"}, "active": {"type": "boolean"},
    "events": {"type": "array", "items": {"type": "string"}},
    "config": _object({}, {"url": {"type": "string"}, "content_type": {"type": "string"},
                           "secret": {"type": "string"}, "insecure_ssl": {"type": "string"}})}}
HOOK_PATCH = {**HOOK_BODY, "properties": {**HOOK_BODY["properties"],
                                          "add_events": {"type": "array", "items": {"type": "string"}},
                                          "remove_events": {"type": "array", "items": {"type": "string"}}}}


def _hook_paths(prefix: str, kind: str, owner_params: list) -> dict:
    hook = _path_param("hook_id", {"type": "integer"})
    delivery = _path_param("delivery_id", {"type": "integer"})
    base = f"{prefix}/hooks/{{hook_id}}"
    invalid = ("requires_authentication", "forbidden", "not_found", "validation_failed")
    paths = {
        f"{prefix}/hooks": {
            "get": _operation(f"{kind}/list-webhooks", "List webhooks", _json({"type": "array", "items": _ref("hook")}),
                              parameters=[*owner_params, PAGE, PER_PAGE]),
            "post": _operation(f"{kind}/create-webhook", "Create a webhook", _json(_ref("hook")), status="201",
                               parameters=owner_params, body=HOOK_BODY, errors=invalid),
        },
        base: {
            "get": _operation(f"{kind}/get-webhook", "Get a webhook", _json(_ref("hook")),
                              parameters=[*owner_params, hook]),
            "patch": _operation(f"{kind}/update-webhook", "Update a webhook", _json(_ref("hook")),
                                parameters=[*owner_params, hook], body=HOOK_PATCH, errors=invalid),
            "delete": _operation(f"{kind}/delete-webhook", "Delete a webhook", NO_CONTENT, status="204",
                                 parameters=[*owner_params, hook]),
        },
        f"{base}/config": {
            "get": _operation(f"{kind}/get-webhook-config", "Get a webhook configuration",
                              _json(_ref("webhook-config")), parameters=[*owner_params, hook]),
            "patch": _operation(f"{kind}/update-webhook-config", "Update a webhook configuration",
                                _json(_ref("webhook-config")), parameters=[*owner_params, hook],
                                body=HOOK_BODY["properties"]["config"], errors=invalid),
        },
        f"{base}/pings": {"post": _operation(f"{kind}/ping-webhook", "Ping a webhook", NO_CONTENT, status="204",
                                             parameters=[*owner_params, hook])},
        f"{base}/deliveries": {"get": _operation(
            f"{kind}/list-webhook-deliveries", "List deliveries for a webhook",
            _json({"type": "array", "items": _ref("hook-delivery-item")}),
            parameters=[*owner_params, hook, PER_PAGE, _query_param("cursor", {"type": "string"})])},
        f"{base}/deliveries/{{delivery_id}}": {"get": _operation(
            f"{kind}/get-webhook-delivery", "Get a delivery for a webhook", _json(_ref("hook-delivery")),
            parameters=[*owner_params, hook, delivery])},
        f"{base}/deliveries/{{delivery_id}}/attempts": {"post": _operation(
            f"{kind}/redeliver-webhook-delivery", "Redeliver a delivery for a webhook",
            _json({"type": "object"}, "Accepted"), status="202", parameters=[*owner_params, hook, delivery])},
    }
    if kind == "repos":
        paths[f"{base}/tests"] = {"post": _operation(
            "repos/test-push-webhook", "Test the push repository webhook", NO_CONTENT, status="204",
            parameters=[*owner_params, hook])}
    return paths


def document() -> dict:
    org = [_path_param("org")]
    user = [_path_param("username")]
    repo = [_path_param("owner"), _path_param("repo")]
    paths = {
        "/": {"get": _operation("meta/root", "GitHub API Root", _json(_ref("root")), errors=())},
        "/meta": {"get": _operation("meta/get", "Get GitHub Enterprise Server meta information",
                                    _json(_ref("api-overview")), errors=())},
        "/rate_limit": {"get": _operation("rate-limit/get", "Get rate limit status for the authenticated user",
                                          _json(_ref("rate-limit-overview")), errors=("not_found",))},
        "/user": {"get": _operation("users/get-authenticated", "Get the authenticated user",
                                    _json(_ref("public-user")), errors=("requires_authentication",))},
        "/users/{username}": {"get": _operation("users/get-by-username", "Get a user",
                                                _json(_ref("user-or-organization")), parameters=user,
                                                errors=("not_found",))},
        "/orgs/{org}": {"get": _operation("orgs/get", "Get an organization", _json(_ref("organization-full")),
                                          parameters=org, errors=("not_found",))},
        "/repos/{owner}/{repo}": {"get": _operation("repos/get", "Get a repository", _json(_ref("full-repository")),
                                                    parameters=repo)},
        **_package_paths("/orgs/{org}", "organization", org),
        **_package_paths("/users/{username}", "user", user),
        **_package_paths("/user", "authenticated-user", []),
        **_hook_paths("/repos/{owner}/{repo}", "repos", repo),
        **_hook_paths("/orgs/{org}", "orgs", org),
        "/openapi.json": {"get": _operation("meta/openapi", "This document", _json({"type": "object"}), errors=())},
    }
    for path_item in paths.values():
        for operation in path_item.values():
            # Every answer may be the rate limit's 403 and a bad token's 401.
            operation["responses"].setdefault("401", {"$ref": "#/components/responses/requires_authentication"})
            operation["responses"].setdefault("403", {"$ref": "#/components/responses/forbidden"})
    return {
        "openapi": "3.0.3",
        "info": {"title": "Packages appliance REST API", "version": "1.1.4",
                 "description": "GitHub Enterprise Server's REST API for packages and webhooks."},
        "servers": [{"url": api_root()}],
        "security": [{}, {"token": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }


@blueprint.get("/openapi.json")
def openapi_document():
    return jsonify(document())
