"""GitHub's REST hook endpoints for repository and organization webhooks: the hooks, their config,
their delivery log with redelivery, and pings."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance.accounts.service import find_account, find_repository
from appliance.api.blueprint import accepted_scopes, blueprint, current_actor, json_body
from appliance.api.errors import HOOKS_DOCUMENTATION_URL, ApiError, not_found
from appliance.api.pagination import link_header, per_page_arg
from appliance.github.urls import api_root
from appliance.webhooks import service
from appliance.webhooks.service import HookInvalid, HookNotFound, HookSettings

REPOSITORY_PREFIX = "/repos/<owner>/<repo>/hooks"
ORGANIZATION_PREFIX = "/orgs/<org>/hooks"


def _scope(owner: str | None = None, repo: str | None = None, org: str | None = None) -> dict:
    """Whose hooks these are, once the caller is known to manage them: {'repository': ...} or
    {'organization': ...}."""
    actor = current_actor()
    if org is not None:
        accepted_scopes("admin:org_hook")
        return {"organization": service.check_organization_owner(actor, find_account(org))}
    accepted_scopes("repo")
    return {"repository": service.check_repository_admin(actor, find_repository(owner, repo))}


def _hook(hook_id: int, scope: dict):
    try:
        return service.find_hook(hook_id, **scope)
    except HookNotFound:
        raise not_found(HOOKS_DOCUMENTATION_URL) from None


def _invalid(error: HookInvalid) -> ApiError:
    return ApiError(422, "Validation Failed", documentation_url=HOOKS_DOCUMENTATION_URL,
                    errors=[{"resource": "Hook", "code": "custom", "field": error.field, "message": str(error)}])


def _config_changes(config) -> dict:
    if not isinstance(config, dict):
        raise _invalid(HookInvalid("config", "config must be an object"))
    changes = {}
    for key in ("url", "content_type", "secret", "insecure_ssl"):
        if key in config:
            value = config[key]
            if isinstance(value, int) and key == "insecure_ssl":
                value = str(value)
            if not isinstance(value, str):
                raise _invalid(HookInvalid(key, f"{key} must be a string"))
            changes[key] = value
    return changes


def _hook_changes(body: dict) -> dict:
    changes = _config_changes(body.get("config", {}))
    for key in ("events", "add_events", "remove_events"):
        if key in body:
            if not isinstance(body[key], list) or not all(isinstance(e, str) for e in body[key]):
                raise _invalid(HookInvalid(key, f"{key} must be a list of event names"))
            changes[key] = body[key]
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise _invalid(HookInvalid("active", "active must be true or false"))
        changes["active"] = body["active"]
    return changes


def list_hooks(**names):
    scope = _scope(**names)
    return jsonify([service.hook_shape(h) for h in service.list_hooks(**scope)])


def create_hook(**names):
    scope = _scope(**names)
    body = json_body()
    if body.get("name", "web") != "web":
        raise _invalid(HookInvalid("name", "the only hook name is web"))
    changes = _hook_changes(body)
    if "url" not in changes:
        raise _invalid(HookInvalid("url", "config.url is required"))
    settings = HookSettings(url=changes["url"], content_type=changes.get("content_type", "form"),
                            secret=changes.get("secret", ""), insecure_ssl=changes.get("insecure_ssl", "0"),
                            events=tuple(changes.get("events", ["package"])), active=changes.get("active", True))
    try:
        hook = service.create_hook(current_actor(), settings, **scope)
    except HookInvalid as error:
        raise _invalid(error) from None
    response = jsonify(service.hook_shape(hook))
    response.status_code = 201
    response.headers["Location"] = f"{api_root()}{service.hook_path(hook)}"
    return response


def get_hook(hook_id: int, **names):
    return jsonify(service.hook_shape(_hook(hook_id, _scope(**names))))


def update_hook(hook_id: int, **names):
    hook = _hook(hook_id, _scope(**names))
    try:
        service.update_hook(hook, _hook_changes(json_body()))
    except HookInvalid as error:
        raise _invalid(error) from None
    return jsonify(service.hook_shape(hook))


def delete_hook(hook_id: int, **names):
    service.delete_hook(_hook(hook_id, _scope(**names)))
    return Response(status=204)


def get_config(hook_id: int, **names):
    return jsonify(service.hook_shape(_hook(hook_id, _scope(**names)))["config"])


def update_config(hook_id: int, **names):
    hook = _hook(hook_id, _scope(**names))
    try:
        service.update_hook(hook, _config_changes(json_body()))
    except HookInvalid as error:
        raise _invalid(error) from None
    return jsonify(service.hook_shape(hook)["config"])


def ping_hook(hook_id: int, **names):
    service.ping(current_actor(), _hook(hook_id, _scope(**names)))
    return Response(status=204)


def test_hook(hook_id: int, **names):
    # GitHub sends the latest push here; the appliance hosts no git, so there is none to send.
    _hook(hook_id, _scope(**names))
    return Response(status=204)


def list_deliveries(hook_id: int, **names):
    hook = _hook(hook_id, _scope(**names))
    per_page = per_page_arg()
    cursor = request.args.get("cursor")
    before = int(cursor) if cursor and cursor.isdigit() else None
    deliveries = service.list_deliveries(hook, per_page=per_page, before_id=before)
    response = jsonify([service.delivery_summary(d) for d in deliveries])
    if len(deliveries) == per_page:
        response.headers["Link"] = link_header({"next": {"cursor": str(deliveries[-1].id), "per_page": per_page}})
    return response


def _delivery(hook, delivery_id: int):
    delivery = service.find_delivery(hook, delivery_id)
    if delivery is None:
        raise not_found(HOOKS_DOCUMENTATION_URL)
    return delivery


def get_delivery(hook_id: int, delivery_id: int, **names):
    hook = _hook(hook_id, _scope(**names))
    return jsonify(service.delivery_detail(_delivery(hook, delivery_id)))


def redeliver(hook_id: int, delivery_id: int, **names):
    hook = _hook(hook_id, _scope(**names))
    service.redeliver(_delivery(hook, delivery_id))
    response = jsonify({})
    response.status_code = 202
    return response


ROUTES = [
    ("", ["GET"], list_hooks),
    ("", ["POST"], create_hook),
    ("/<int:hook_id>", ["GET"], get_hook),
    ("/<int:hook_id>", ["PATCH"], update_hook),
    ("/<int:hook_id>", ["DELETE"], delete_hook),
    ("/<int:hook_id>/config", ["GET"], get_config),
    ("/<int:hook_id>/config", ["PATCH"], update_config),
    ("/<int:hook_id>/pings", ["POST"], ping_hook),
    ("/<int:hook_id>/tests", ["POST"], test_hook),
    ("/<int:hook_id>/deliveries", ["GET"], list_deliveries),
    ("/<int:hook_id>/deliveries/<int:delivery_id>", ["GET"], get_delivery),
    ("/<int:hook_id>/deliveries/<int:delivery_id>/attempts", ["POST"], redeliver),
]
for prefix, kind in ((REPOSITORY_PREFIX, "repository"), (ORGANIZATION_PREFIX, "organization")):
    for suffix, methods, view in ROUTES:
        if kind == "organization" and view is test_hook:
            continue  # organization hooks have no test endpoint on GitHub either
        blueprint.add_url_rule(prefix + suffix, f"{kind}_{view.__name__}", view, methods=methods)
