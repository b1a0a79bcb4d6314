"""What happened to packages, told to whoever subscribed (webhooks, metrics) once it is committed, and
the audit log every write of the service leaves.

Every operation of the service runs in `operation()`: one transaction; the events it `record`s are
delivered after that transaction commits, and dropped when it rolls back, so a subscriber never hears
of a change that did not happen, and hears of each one once, the same way from every format.
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context, has_request_context, request

from appliance.auth.permissions import Actor
from appliance.db import database
from appliance.models.audit import AuditEvent
from appliance.packages.queries import load_package_view, load_version_view
from appliance.packages.views import PackageView, VersionView

log = logging.getLogger(__name__)

PUBLISHED = "published"
UPDATED = "updated"
DELETED = "deleted"
RESTORED = "restored"
ACTIONS = (PUBLISHED, UPDATED, DELETED, RESTORED)

EXTENSION = "appliance.package_events"


@dataclass(frozen=True)
class PackageEvent:
    action: str  # one of ACTIONS
    package: PackageView
    version: VersionView | None  # None when the change is the whole package's
    actor_login: str  # "" for anonymous, "scheduler" for cleanup jobs
    repository: str  # its full name, OWNER/NAME


Handler = Callable[[PackageEvent], None]
_process_handlers: list[Handler] = []
_pending: ContextVar[list[tuple[str, int, int | None, str]] | None] = ContextVar("package_events", default=None)


def _handlers(app: Flask | None) -> list[Handler]:
    if app is None and has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app is None:
        return _process_handlers
    return app.extensions.setdefault(EXTENSION, [])


def subscribe(handler: Handler, *, app: Flask | None = None) -> Callable[[], None]:
    """Call `handler` with every PackageEvent after its transaction commits: the app's events (`app`,
    else the current application's), or every event of the process outside any application. Returns
    a function that unsubscribes. A handler that raises is logged; it never undoes the change."""
    handlers = _handlers(app)
    handlers.append(handler)
    return lambda: handlers.remove(handler) if handler in handlers else None


def record(action: str, package_id: int, version_id: int | None, actor: Actor | str) -> None:
    """Note an event of the running operation, delivered once the operation commits."""
    assert action in ACTIONS, action
    login = actor if isinstance(actor, str) else actor.login
    pending = _pending.get()
    if pending is None:
        _deliver([(action, package_id, version_id, login)])
    else:
        pending.append((action, package_id, version_id, login))


@contextlib.contextmanager
def operation() -> Iterator[None]:
    """One transaction for one operation of the service; events recorded in it (and in operations it
    calls) are delivered when the outermost one commits."""
    pending = _pending.get()
    outermost = pending is None
    if outermost:
        pending = []
        token = _pending.set(pending)
    mark = len(pending)
    try:
        with database.atomic():
            yield
    except BaseException:
        del pending[mark:]
        raise
    finally:
        if outermost:
            _pending.reset(token)
    if outermost and pending:
        _deliver(pending)


def _deliver(pending: list[tuple[str, int, int | None, str]]) -> None:
    handlers = [*_process_handlers, *(_handlers(None) if has_app_context() else [])]
    if not handlers:
        return
    for action, package_id, version_id, login in pending:
        package = load_package_view(package_id)
        if package is None:
            continue  # purged since
        version = load_version_view(version_id, package) if version_id is not None else None
        event = PackageEvent(action=action, package=package, version=version, actor_login=login,
                             repository=package.repository.full_name)
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("a package event subscriber failed on %s of %s", action, package.name)


def audit(actor: Actor, action: str, target: str, **data) -> None:
    """Write the audit log's line for a change made for `actor` (from the request's address)."""
    AuditEvent.create(
        actor=actor.user,
        actor_login=actor.login,
        action=action,
        target=target,
        data=json.dumps(data, sort_keys=True, default=str),
        remote_addr=(request.remote_addr or "") if has_request_context() else "",
    )
