"""Changes to what is published that add no files: deprecating versions, moving and removing tags, and
npm's packument change set (unpublish, deprecations and tags of one `npm` command together). Each
operation decides its own permission from what it changes and is one transaction, so a refusal or a
failure midway leaves the package as it was."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from appliance.auth.permissions import Action, Actor
from appliance.models.base import utcnow
from appliance.models.packages import Package, PackageTag, PackageVersion
from appliance.packages.access import check_access
from appliance.packages.errors import TagNotFound, VersionNotFound
from appliance.packages.events import UPDATED, audit, operation, record
from appliance.packages.lifecycle import version_deletion
from appliance.packages.publishing import tag_rows, touch
from appliance.packages.queries import find_version
from appliance.packages.views import VersionView


def _deprecation(actor: Actor, version: PackageVersion, message: str | None) -> None:
    package = version.package
    fields = json.loads(version.metadata or "{}")
    if message:
        fields["deprecated"] = message
    else:
        fields.pop("deprecated", None)
    PackageVersion.update(metadata=json.dumps(fields), updated_at=utcnow()).where(
        PackageVersion.id == version.id).execute()
    touch(package)
    audit(actor, "package_version.update", f"{package.format}:{package.name}@{version.version}")
    record(UPDATED, package.id, version.id, actor)


def deprecate_version(actor: Actor, version: PackageVersion, message: str | None) -> None:
    """Mark a version deprecated with `message` (None or "": no longer deprecated): a write; its files
    never change."""
    check_access(actor, version.package.repository, Action.WRITE)
    with operation():
        _deprecation(actor, version, message)


def _target(package: Package, version: str) -> PackageVersion:
    target = find_version(package, version)
    if target is None:
        raise VersionNotFound(f"{package.name} has no version {version}")
    return target


def move_tag(actor: Actor, package: Package, tag: str, version: str) -> None:
    """Point `tag` at `version` (creating the tag): a write."""
    check_access(actor, package.repository, Action.WRITE)
    target = _target(package, version)
    with operation():
        tag_rows(actor, package, tag, target)


def _tag_removal(actor: Actor, package: Package, tag: str) -> None:
    removed = PackageTag.delete().where((PackageTag.package == package.id) & (PackageTag.name == tag)).execute()
    if not removed:
        raise TagNotFound(f"{package.name} has no tag {tag}")
    touch(package)
    audit(actor, "package_tag.remove", f"{package.format}:{package.name}", tag=tag)
    record(UPDATED, package.id, None, actor)


def remove_tag(actor: Actor, package: Package, tag: str) -> None:
    """Remove `tag` from the package (npm dist-tag rm): a write, like moving it."""
    check_access(actor, package.repository, Action.WRITE)
    with operation():
        _tag_removal(actor, package, tag)


def delete_tag(actor: Actor, package: Package, tag: str) -> None:
    """Delete `tag` where the protocol makes that a deletion (OCI's DELETE of a manifest by tag): delete
    rights."""
    check_access(actor, package.repository, Action.DELETE)
    with operation():
        _tag_removal(actor, package, tag)


def _live_rows(package: Package, versions: Sequence[VersionView]) -> dict[int, PackageVersion]:
    """The rows of those of `versions` (views a face read) that are still live versions of the package,
    by id, in one query; each knows its package without asking for it again."""
    if not versions:
        return {}
    rows = PackageVersion.select().where((PackageVersion.package == package.id) & PackageVersion.deleted_at.is_null()
                                         & PackageVersion.id.in_([version.id for version in versions]))
    found = {}
    for row in rows:
        row.package = package
        found[row.id] = row
    return found


def change_packument(actor: Actor, package: Package, *, unpublish: Sequence[VersionView] = (),
                     deprecations: Sequence[tuple[VersionView, str | None]] = (),
                     tags: Mapping[str, str] = {}) -> None:
    """npm's packument update in one operation: `unpublish` these versions, set or clear these
    deprecation messages, point these tags at these versions.

    Unpublishing needs delete rights; deprecating and moving tags are writes, except that moving a tag
    off a version being unpublished is part of that unpublish. Every right is checked before the first
    change, and nothing is changed unless everything is. A version unpublished meanwhile (another
    `npm unpublish` of it) is left as it is.
    """
    removed = {version.version for version in unpublish}
    if unpublish:
        check_access(actor, package.repository, Action.DELETE)
    current_tags = {tag.name: tag.version.version for tag in
                    PackageTag.select(PackageTag, PackageVersion).join(PackageVersion)
                    .where(PackageTag.package == package.id)}
    if deprecations or any(current_tags.get(tag) not in removed for tag in tags):
        check_access(actor, package.repository, Action.WRITE)
    targets = {tag: _target(package, version) for tag, version in tags.items()}
    rows = _live_rows(package, [*unpublish, *(version for version, _ in deprecations)])
    with operation():
        for version in unpublish:
            if version.id in rows:
                version_deletion(actor, rows[version.id])
        for version, message in deprecations:
            if version.id in rows:
                _deprecation(actor, rows[version.id], message)
        for tag, target in targets.items():
            tag_rows(actor, package, tag, target)
