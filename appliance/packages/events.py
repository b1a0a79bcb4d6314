"""What happened to packages, told to whoever subscribed (webhooks, metrics) once it is committed, and
the audit log every write of the service leaves.

Every operation of the service runs in `operation()`: one transaction; the events it `record`s are
delivered after that transaction commits, and dropped when it rolls back, so a subscriber never hears
of a change that did not happen, and hears of each one once, the same way from every format.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context, has_request_context, request

from appliance.auth.permissions import Actor
from appliance.db import database
from appliance.models.accounts import Account
from appliance.models.audit import AuditEvent
from appliance.models.packages import Package
from appliance.models.repositories import Repository
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
class PackagePlace:
    """What every subscriber needs of the package an event is about: its format and where it lives."""

    format: str
    repository_id: int
    repository: str  # its full name, OWNER/NAME
    owner_id: int
    owner_kind: str  # "user" | "organization"


class PackageEvent:
    """One committed change, as subscribers hear it. The package's and the version's views are read when
    a subscriber first asks for them, during delivery: most events (none of the repository's hooks takes
    them) need only the action and the package's place, and reading the views cost a write operation
    about as much as the write itself."""

    def __init__(self, action: str, place: PackagePlace, package_id: int, version_id: int | None,
                 actor_login: str):
        self.action = action  # one of ACTIONS
        self.place = place
        self.package_id = package_id
        self.version_id = version_id  # None when the change is the whole package's
        self.actor_login = actor_login  # "" for anonymous, "scheduler" for cleanup jobs

    @property
    def repository(self) -> str:
        return self.place.repository

    @functools.cached_property
    def package(self) -> PackageView:
        return load_package_view(self.package_id)

    @functools.cached_property
    def version(self) -> VersionView | None:
        return load_version_view(self.version_id, self.package) if self.version_id is not None else None


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
    places = _places({package_id for _, package_id, _, _ in pending})
    for action, package_id, version_id, login in pending:
        place = places.get(package_id)
        if place is None:
            continue  # purged since
        event = PackageEvent(action, place, package_id, version_id, login)
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("a package event subscriber failed on %s of package %d", action, package_id)


def _places(package_ids: set[int]) -> dict[int, PackagePlace]:
    rows = (Package.select(Package.id, Package.format, Repository.id, Repository.name, Account.id, Account.login,
                           Account.kind)
            .join(Repository).join(Account, on=(Repository.owner == Account.id))
            .where(Package.id.in_(list(package_ids))).tuples())
    return {package_id: PackagePlace(fmt, repository_id, f"{login}/{name}", owner_id, kind)
            for package_id, fmt, repository_id, name, owner_id, login, kind in rows}


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
