"""Deleting and restoring packages and versions: soft deletes, restorable for `retention.deleted_days`;
and NuGet's unlist and relist, which take the place of a deletion and of its undoing in that protocol,
so they need the same rights. Each operation decides its own permission and is one transaction."""
from __future__ import annotations

import datetime as dt
import json

from appliance.auth.permissions import Action, Actor
from appliance.models.base import utcnow
from appliance.models.packages import Package, PackageTag, PackageVersion
from appliance.packages.access import check_access
from appliance.packages.descriptors import version_states
from appliance.packages.errors import RestoreExpired
from appliance.packages.events import DELETED, RESTORED, UPDATED, audit, operation, record
from appliance.packages.publishing import touch
from appliance.settings import current_settings


def delete_version(actor: Actor, version: PackageVersion) -> None:
    """Soft-delete a version: gone from every index, restorable for `retention.deleted_days`."""
    check_access(actor, version.package.repository, Action.DELETE)
    with operation():
        version_deletion(actor, version)


def version_deletion(actor: Actor, version: PackageVersion) -> None:
    """The rows of a version's deletion, inside the caller's operation (which has checked DELETE)."""
    package = version.package
    PackageVersion.update(deleted_at=utcnow()).where(PackageVersion.id == version.id).execute()
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
        raise RestoreExpired(f"{package.name} was deleted too long ago to be restored")
    with operation():
        Package.update(deleted_at=None).where(Package.id == package.id).execute()
        touch(package)
        audit(actor, "package.restore", f"{package.format}:{package.name}")
        record(RESTORED, package.id, None, actor)


def restore_version(actor: Actor, version: PackageVersion) -> None:
    check_access(actor, version.package.repository, Action.DELETE)
    with operation():
        _restoration(actor, version)


def _restoration(actor: Actor, version: PackageVersion) -> None:
    package = version.package
    if version.deleted_at is None:
        return
    if version.deleted_at < restore_deadline():
        raise RestoreExpired(f"{package.name}@{version.version} was deleted too long ago to be restored")
    PackageVersion.update(deleted_at=None).where(PackageVersion.id == version.id).execute()
    version.deleted_at = None
    touch(package)
    audit(actor, "package_version.restore", f"{package.format}:{package.name}@{version.version}")
    record(RESTORED, package.id, version.id, actor)


def _listed(version: PackageVersion) -> bool:
    package = version.package
    return version_states(package.format, version.version, json.loads(version.metadata or "{}")).listed


def _set_listed(actor: Actor, version: PackageVersion, listed: bool) -> None:
    if _listed(version) == listed:
        return
    fields = json.loads(version.metadata or "{}")
    package = version.package
    fields["listed"] = listed
    PackageVersion.update(metadata=json.dumps(fields), updated_at=utcnow()).where(
        PackageVersion.id == version.id).execute()
    version.metadata = json.dumps(fields)
    touch(package)
    audit(actor, "package_version.update", f"{package.format}:{package.name}@{version.version}")
    record(UPDATED, package.id, version.id, actor)


def unlist_or_delete_version(actor: Actor, version: PackageVersion) -> None:
    """NuGet's delete, in one operation: a listed version is unlisted (taken out of search and of the
    versions a client picks from, installable still by its exact version), an unlisted one deleted (as
    `delete_version`). Clients treat an unlist as a deletion, so both need delete rights."""
    check_access(actor, version.package.repository, Action.DELETE)
    with operation():
        if _listed(version):
            _set_listed(actor, version, False)
        else:
            version_deletion(actor, version)


def relist_version(actor: Actor, version: PackageVersion) -> None:
    """Undo an unlist, and a deletion first if the version was deleted (NuGet's relist), in one
    operation: delete rights, as for a restore."""
    check_access(actor, version.package.repository, Action.DELETE)
    with operation():
        _restoration(actor, version)
        _set_listed(actor, version, True)
