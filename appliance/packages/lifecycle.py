"""Deleting and restoring packages and versions: soft deletes, restorable for `retention.deleted_days`."""
from __future__ import annotations

import datetime as dt

from appliance.auth.permissions import Action, Actor
from appliance.models.base import utcnow
from appliance.models.packages import Package, PackageTag, PackageVersion
from appliance.packages.access import check_access
from appliance.packages.errors import (
    PackageNotFound,
    VersionNotFound,
)
from appliance.packages.events import DELETED, RESTORED, audit, operation, record
from appliance.packages.publishing import touch
from appliance.settings import current_settings

# ---- deleting and restoring ------------------------------------------------------------------------


def delete_version(actor: Actor, version: PackageVersion) -> None:
    """Soft-delete a version: gone from every index, restorable for `retention.deleted_days`."""
    package = version.package
    check_access(actor, package.repository, Action.DELETE)
    with operation():
        now = utcnow()
        PackageVersion.update(deleted_at=now).where(PackageVersion.id == version.id).execute()
        PackageTag.delete().where(PackageTag.version == version.id).execute()
        touch(package)
        audit(actor, "package_version.delete", f"{package.format}:{package.name}@{version.version}")
        record(DELETED, package.id, version.id, actor)


def delete_package(actor: Actor, package: Package) -> None:
    check_access(actor, package.repository, Action.DELETE)
    with operation():
        Package.update(deleted_at=utcnow()).where(Package.id == package.id).execute()
        touch(package)
        audit(actor, "package.delete", f"{package.format}:{package.name}")
        record(DELETED, package.id, None, actor)


def restore_deadline() -> dt.datetime:
    return utcnow() - dt.timedelta(days=current_settings()["retention.deleted_days"])


def restore_package(actor: Actor, package: Package) -> None:
    check_access(actor, package.repository, Action.DELETE)
    if package.deleted_at is None:
        return
    if package.deleted_at < restore_deadline():
        raise PackageNotFound(f"{package.name} was deleted too long ago to be restored")
    with operation():
        Package.update(deleted_at=None).where(Package.id == package.id).execute()
        touch(package)
        audit(actor, "package.restore", f"{package.format}:{package.name}")
        record(RESTORED, package.id, None, actor)


def restore_version(actor: Actor, version: PackageVersion) -> None:
    package = version.package
    check_access(actor, package.repository, Action.DELETE)
    if version.deleted_at is None:
        return
    if version.deleted_at < restore_deadline():
        raise VersionNotFound(f"{package.name}@{version.version} was deleted too long ago to be restored")
    with operation():
        PackageVersion.update(deleted_at=None).where(PackageVersion.id == version.id).execute()
        touch(package)
        audit(actor, "package_version.restore", f"{package.format}:{package.name}@{version.version}")
        record(RESTORED, package.id, version.id, actor)
