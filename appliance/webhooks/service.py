"""Hooks and their deliveries: the one write path for them (the REST hook endpoints and pages call it).

A hook belongs to a repository or an organization; its admins (repository admins, organization owners,
site administrators) manage it with a token that has `repo` (repository hooks) or `admin:org_hook`
(organization hooks). Anyone else is answered as if the hook did not exist.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from appliance.auth.permissions import Actor, Decision, Outcome, repository_role
from appliance.db import database
from appliance.github.urls import api_root, timestamp
from appliance.models.accounts import Account, OrganizationMember
from appliance.models.base import utcnow
from appliance.models.repositories import ADMIN, Repository
from appliance.models.tokens import ADMIN_ORG_HOOK, REPO
from appliance.models.webhooks import Hook, HookDelivery
from appliance.packages import AccessDenied
from appliance.webhooks import payloads
from appliance.webhooks.guard import BadHookUrl, check_url_form

EVENTS = ("package", "*")
CONTENT_TYPES = ("json", "form")
SECRET_MASK = "********"


class HookInvalid(ValueError):
    """A hook's settings that cannot be taken; `field` names the one at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class HookNotFound(Exception):
    pass


# ---- who may manage hooks ----------------------------------------------------------------------------


def _refuse(actor: Actor) -> None:
    if actor.is_anonymous:
        raise AccessDenied(Decision(Outcome.UNAUTHENTICATED, "authentication required"))
    raise AccessDenied(Decision(Outcome.NOT_FOUND, "not found"))


def check_repository_admin(actor: Actor, repository: Repository | None) -> Repository:
    if repository is None or actor.user is None or repository_role(actor.user, repository) != ADMIN:
        _refuse(actor)
    if actor.token is not None and actor.token.repository_id not in (None, repository.id):
        _refuse(actor)
    if actor.scopes is not None and REPO not in actor.scopes:
        _refuse(actor)
    return repository


def check_organization_owner(actor: Actor, org: Account | None) -> Account:
    if org is None or not org.is_organization or actor.user is None:
        _refuse(actor)
    owner = actor.user.site_admin or OrganizationMember.select().where(
        (OrganizationMember.organization == org.id) & (OrganizationMember.user == actor.user.id)
        & (OrganizationMember.role == "owner")).exists()
    if not owner or (actor.token is not None and actor.token.repository_id is not None):
        _refuse(actor)
    if actor.scopes is not None and ADMIN_ORG_HOOK not in actor.scopes:
        _refuse(actor)
    return org


# ---- hooks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookSettings:
    url: str
    content_type: str = "form"
    secret: str | None = None  # None: keep the one it has
    insecure_ssl: str = "0"
    events: tuple[str, ...] = ("package",)
    active: bool = True


def _validate(settings: HookSettings) -> None:
    try:
        check_url_form(settings.url)
    except BadHookUrl as error:
        raise HookInvalid("url", str(error)) from None
    if settings.content_type not in CONTENT_TYPES:
        raise HookInvalid("content_type", "content_type is json or form")
    if settings.insecure_ssl not in ("0", "1"):
        raise HookInvalid("insecure_ssl", "insecure_ssl is \"0\" or \"1\"")
    unknown = [e for e in settings.events if e not in EVENTS]
    if unknown or not settings.events:
        raise HookInvalid("events", f"events may be {', '.join(EVENTS)}"
                          + (f"; {unknown[0]!r} is not one the appliance sends" if unknown else ""))


def hook_path(hook: Hook) -> str:
    if hook.repository_id is not None:
        return f"/repos/{hook.repository.full_name}/hooks/{hook.id}"
    return f"/orgs/{hook.organization.login}/hooks/{hook.id}"


def hook_shape(hook: Hook) -> dict:
    """GitHub's `hook` (a repository's) or `org-hook`; the secret is never shown, only that there is one."""
    url = f"{api_root()}{hook_path(hook)}"
    config = {"url": hook.url, "content_type": hook.content_type, "insecure_ssl": hook.insecure_ssl}
    if hook.secret:
        config["secret"] = SECRET_MASK
    shape = {
        "type": "Repository" if hook.repository_id is not None else "Organization",
        "id": hook.id,
        "name": "web",
        "active": hook.active,
        "events": json.loads(hook.events),
        "config": config,
        "updated_at": timestamp(hook.updated_at),
        "created_at": timestamp(hook.created_at),
        "url": url,
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
    }
    if hook.repository_id is not None:
        shape["test_url"] = f"{url}/tests"
        shape["last_response"] = {"code": hook.last_response_code, "status": hook.last_response_status,
                                  "message": hook.last_response_message}
    return shape


def list_hooks(*, repository: Repository | None = None, organization: Account | None = None) -> list[Hook]:
    query = Hook.select().order_by(Hook.id)
    if repository is not None:
        return list(query.where(Hook.repository == repository.id))
    return list(query.where(Hook.organization == organization.id))


def find_hook(hook_id: int, *, repository: Repository | None = None,
              organization: Account | None = None) -> Hook:
    hook = Hook.get_or_none((Hook.id == hook_id) & (
        (Hook.repository == repository.id) if repository is not None else (Hook.organization == organization.id)))
    if hook is None:
        raise HookNotFound(f"no hook {hook_id}")
    return hook


def create_hook(actor: Actor, settings: HookSettings, *, repository: Repository | None = None,
                organization: Account | None = None) -> Hook:
    """Create a hook and queue its `ping`."""
    _validate(settings)
    now = utcnow()
    with database.atomic():
        hook = Hook.create(repository=repository, organization=organization, url=settings.url,
                           secret=settings.secret or "", content_type=settings.content_type,
                           insecure_ssl=settings.insecure_ssl, events=json.dumps(list(settings.events)),
                           active=settings.active, created_at=now, updated_at=now)
        ping(actor, hook)
    return hook


def update_hook(hook: Hook, changes: dict) -> Hook:
    """Apply `changes` (url, content_type, secret, insecure_ssl, events, add_events, remove_events,
    active), as GitHub's PATCH of a hook or of its config takes them."""
    events = list(changes.get("events", json.loads(hook.events)))
    events += [e for e in changes.get("add_events", []) if e not in events]
    events = [e for e in events if e not in changes.get("remove_events", [])]
    settings = HookSettings(
        url=changes.get("url", hook.url),
        content_type=changes.get("content_type", hook.content_type),
        secret=changes.get("secret"),
        insecure_ssl=str(changes.get("insecure_ssl", hook.insecure_ssl)),
        events=tuple(events),
        active=bool(changes.get("active", hook.active)),
    )
    _validate(settings)
    hook.url, hook.content_type, hook.insecure_ssl = settings.url, settings.content_type, settings.insecure_ssl
    hook.events, hook.active, hook.updated_at = json.dumps(list(settings.events)), settings.active, utcnow()
    if settings.secret is not None:
        hook.secret = settings.secret
    hook.save()
    return hook


def delete_hook(hook: Hook) -> None:
    hook.delete_instance()


# ---- deliveries --------------------------------------------------------------------------------------


def _queue(hook: Hook, event: str, action: str | None, payload: dict, repository_id: int | None,
           *, guid: str | None = None, redelivery: bool = False) -> HookDelivery:
    now = utcnow()
    return HookDelivery.create(hook=hook, guid=guid or str(uuid.uuid4()), event=event, action=action,
                               repository_id=repository_id, payload=json.dumps(payload),
                               redelivery=redelivery, next_attempt_at=now, created_at=now)


def ping(actor: Actor, hook: Hook) -> HookDelivery:
    repository = hook.repository if hook.repository_id is not None else None
    payload = payloads.ping_payload(
        hook_shape(hook),
        repository_shape=payloads.repository_payload(repository) if repository else None,
        organization=hook.organization if hook.organization_id is not None else (
            repository.owner if repository and repository.owner.is_organization else None),
        sender=actor.user)
    return _queue(hook, "ping", None, payload, repository.id if repository else None)


def redeliver(delivery: HookDelivery) -> HookDelivery:
    """Send a delivery's payload again, as a new delivery with the same GUID."""
    return _queue(delivery.hook, delivery.event, delivery.action, json.loads(delivery.payload),
                  delivery.repository_id, guid=delivery.guid, redelivery=True)


def list_deliveries(hook: Hook, *, per_page: int = 30, before_id: int | None = None) -> list[HookDelivery]:
    """The hook's deliveries, newest first, `per_page` of them from below `before_id` (a cursor)."""
    query = HookDelivery.select().where(HookDelivery.hook == hook.id)
    if before_id is not None:
        query = query.where(HookDelivery.id < before_id)
    return list(query.order_by(HookDelivery.id.desc()).limit(per_page))


def find_delivery(hook: Hook, delivery_id: int) -> HookDelivery | None:
    return HookDelivery.get_or_none((HookDelivery.hook == hook.id) & (HookDelivery.id == delivery_id))


def delivery_summary(delivery: HookDelivery) -> dict:
    """GitHub's `hook-delivery-item`."""
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": timestamp(delivery.delivered_at or delivery.created_at),
        "redelivery": delivery.redelivery,
        "duration": delivery.duration or 0,
        "status": delivery.status,
        "status_code": delivery.status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": None,
        "repository_id": delivery.repository_id,
        "throttled_at": None,
    }


def delivery_detail(delivery: HookDelivery) -> dict:
    """GitHub's `hook-delivery`: the summary with the request and the response."""
    return {
        **delivery_summary(delivery),
        "url": delivery.hook.url,
        "request": {"headers": json.loads(delivery.request_headers), "payload": json.loads(delivery.payload)},
        "response": {"headers": json.loads(delivery.response_headers), "payload": delivery.response_body},
    }


# ---- package events ----------------------------------------------------------------------------------

SENT_ACTIONS = ("published", "updated")


def record_package_event(event) -> int:
    """The `appliance.packages.events` subscriber: a delivery row per active hook of the package's
    repository and organization that takes `package` events, and nothing more; the scheduler sends
    them. Returns how many were queued."""
    if event.action not in SENT_ACTIONS:
        return 0
    repository_id = event.place.repository_id
    owner_is_org = event.place.owner_kind == "organization"
    where = Hook.repository == repository_id
    if owner_is_org:
        where |= Hook.organization == event.place.owner_id
    hooks = [h for h in Hook.select().where(where & Hook.active)
             if {"package", "*"} & set(json.loads(h.events))]
    if not hooks:
        return 0
    package = event.package
    sender = Account.get_or_none(Account.lower_login == event.actor_login.lower()) if event.actor_login else None
    payload = payloads.package_payload(event.action, package, event.version, sender=sender,
                                       repository_shape=payloads.repository_view_payload(package.repository),
                                       organization=package.owner if owner_is_org else None)
    now, body = utcnow(), json.dumps(payload)
    # One statement for every hook: this runs on the publishing request.
    HookDelivery.insert_many([
        {"hook": hook.id, "guid": str(uuid.uuid4()), "event": "package", "action": event.action,
         "repository_id": repository_id, "payload": body, "next_attempt_at": now, "created_at": now}
        for hook in hooks]).execute()
    return len(hooks)
