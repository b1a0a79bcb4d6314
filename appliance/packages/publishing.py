"""Publishing: new versions and their files, a Docker manifest with its tag, and the rule that a
package name is its owner's once. Every operation decides its own permission, runs in one transaction
(`events.operation`) and emits its events."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from peewee import IntegrityError

from appliance.accounts.service import find_account, find_repository
from appliance.auth.permissions import Action, Actor
from appliance.db import is_sqlite
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.packages import Package, PackageFile, PackageTag, PackageVersion
from appliance.models.repositories import Repository
from appliance.models.uploads import VersionSubject
from appliance.packages.access import check_access, check_format_enabled, deny_missing, hidden_from
from appliance.packages.billing import check_spending_limit
from appliance.packages.blobs import FileUpload, blob_row, forget_blobs, store_uploads
from appliance.packages.descriptors import search_fields
from appliance.packages.errors import (
    FileExists,
    ForeignRepository,
    InvalidUpload,
    NameTaken,
    RepositoryNotLinked,
    StillRestorable,
    VersionExists,
)
from appliance.packages.events import PUBLISHED, UPDATED, audit, operation, record
from appliance.packages.queries import find_package, find_version, find_version_file
from appliance.settings import current_settings
from appliance.storage.blobs import StoredBlob


@dataclass
class VersionDraft:
    version: str
    metadata: dict
    summary: str = ""
    readme: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class VersionDescription:
    """What a version says about itself as stored, handed to a `revise` function (see add_version_file)."""

    metadata: dict
    summary: str
    license: str | None


def owners_repository(owner_login: str, reference: tuple[str, str] | None, named_by: str) -> str | None:
    """The name of the repository a package's metadata names (`reference`: OWNER, NAME as it names it; None
    when it names none) for a package of `owner_login`. The named repository must belong to this owner:
    ForeignRepository otherwise, saying what named it (`named_by`)."""
    if reference is None:
        return None
    named_owner, named = reference
    if named_owner.lower() != owner_login.lower():
        raise ForeignRepository(owner_login, named_by, named_owner, named)
    return named


def link_repository(actor: Actor, owner: Account, named: str | None, default: str) -> Repository:
    """The repository a new package belongs to: the one its metadata names, else the one named `default`.

    A repository the actor cannot see is answered exactly like one that does not exist, so that
    publishing cannot probe for private repository names.
    """
    def visible(name: str) -> Repository | None:
        repository = find_repository(owner.login, name)
        if repository is None or hidden_from(actor, repository):
            return None
        return repository

    if named:
        repository = visible(named)
        if repository is None:
            raise RepositoryNotLinked(owner.login, named)
        return repository
    repository = visible(default)
    if repository is None:
        raise RepositoryNotLinked(owner.login, None, default)
    return repository


def _refuse_hidden_name(actor: Actor, owner: Account, name: str, repository_name: str | None,
                        default: str) -> NoReturn:
    """Answer a publish of a name taken in a repository the actor cannot see as a name nobody took is
    answered, as far as that goes: where a new name would be published, this one is refused, as names
    are unique per owner; nothing says where it is taken."""
    repository = link_repository(actor, owner, repository_name, default)
    check_access(actor, repository, Action.WRITE)
    raise NameTaken(f"the name {name} is taken in another repository of {owner.login}: publish under another name")


def publish_version(
    actor: Actor,
    *,
    owner_login: str,
    fmt: str,
    name: str,
    draft: VersionDraft,
    uploads: list[FileUpload],
    repository_name: str | None,
    default_repository_name: str,
    tags: Iterable[str] = (),
    subjects: Iterable[str] = (),
) -> PackageVersion:
    """Publish a new, immutable version with its files, creating the package on its first version.

    A new package is linked to `repository_name` of the owner, else to the owner's repository named
    `default_repository_name`. `subjects` are the artifacts (by digest) the version says it is about
    (`referring_versions` finds it by them). Permissions are checked before any byte is stored; on
    any failure nothing is left behind.
    """
    check_format_enabled(fmt)
    owner = find_account(owner_login)
    if owner is None:
        raise deny_missing(actor)
    package = find_package(owner.login, fmt, name, include_deleted=True)
    if package is not None and hidden_from(actor, package.repository):
        _refuse_hidden_name(actor, owner, name, repository_name, default_repository_name)
    if package is not None and package.deleted_at is not None:
        raise StillRestorable(
            f"{name} was deleted and can be restored; restore it or wait until it is purged to publish it again"
        )
    repository = package.repository if package else None
    if repository is None:
        if actor.is_anonymous:
            raise deny_missing(actor)
        repository = link_repository(actor, owner, repository_name, default_repository_name)
    check_access(actor, repository, Action.WRITE)
    if package is not None and PackageVersion.select().where(
            (PackageVersion.package == package.id)
            & (PackageVersion.lower_version == draft.version.lower())).exists():
        raise VersionExists(f"{name}@{draft.version} already exists: versions cannot be replaced, "
                            f"publish a new version")

    stored = store_uploads(uploads, current_settings()["max_upload_bytes"])
    try:
        check_spending_limit(owner, repository, sum(blob.size for blob in stored))
        with operation():
            package, version = _version_rows(actor, owner, repository, package, fmt, name, draft, uploads, stored,
                                             subjects)
            for tag in tags:
                _set_tag(package, tag, version)
    except IntegrityError:
        forget_blobs(stored)
        # Two publishes of the same version raced; the other one won.
        raise VersionExists(f"{name}@{draft.version} already exists: versions cannot be replaced") from None
    except BaseException:
        forget_blobs(stored)
        raise
    return version


def _version_rows(actor: Actor, owner: Account, repository: Repository, package: Package | None, fmt: str,
                  name: str, draft: VersionDraft, uploads: list[FileUpload], stored: list[StoredBlob],
                  subjects: Iterable[str]) -> tuple[Package, PackageVersion]:
    """The rows of a new version (and of its package on its first version), inside the caller's operation."""
    now = utcnow()
    if package is None:
        package = Package.create(owner=owner, repository=repository, format=fmt, name=name,
                                 lower_name=name.lower(), created_at=now, updated_at=now)
    else:
        touch(package)
    version = PackageVersion.create(
        package=package, version=draft.version, lower_version=draft.version.lower(),
        metadata=json.dumps(draft.metadata), summary=draft.summary, readme=draft.readme,
        license=draft.license, published_by=actor.user, created_at=now, updated_at=now,
        **search_fields(fmt, draft.metadata, draft.summary))
    for upload, blob in zip(uploads, stored):
        PackageFile.create(version=version, name=upload.name, lower_name=upload.name.lower(),
                           blob=blob_row(blob), content_type=upload.content_type, created_at=now)
    for subject in subjects:
        VersionSubject.create(version=version, subject=subject)
    audit(actor, "package_version.publish", f"{fmt}:{owner.login}/{name}@{draft.version}",
          repository=repository.full_name)
    record(PUBLISHED, package.id, version.id, actor)
    return package, version


def publish_manifest(actor: Actor, repository: Repository, *, fmt: str, name: str, draft: VersionDraft,
                     uploads: list[FileUpload], tag: str | None = None, subjects: Iterable[str] = ()) -> PackageVersion:
    """An OCI manifest PUT, in one operation: the version named by the manifest's digest (`draft.version`)
    is published, or brought back when the same content was deleted (nothing of it can differ, so this
    is a write, not a restore), or left as it is when it is there; then `tag`, if any, points at it.
    Pushing the same manifest from two requests at once is fine: one publishes, both tag."""
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    check_package_repository(actor, repository, fmt, name)
    stored = store_uploads(uploads, current_settings()["max_upload_bytes"])
    try:
        package = find_package(repository.owner.login, fmt, name, include_deleted=True)
        if package is None or find_version(package, draft.version, include_deleted=True) is None:
            # Only a new version takes storage: a manifest pushed again, or brought back, adds none.
            check_spending_limit(repository.owner, repository, sum(blob.size for blob in stored))
        try:
            return _manifest_rows(actor, repository, fmt, name, draft, uploads, stored, tag, subjects)
        except IntegrityError:
            # Another request published the same manifest in between: its rows are there now.
            return _manifest_rows(actor, repository, fmt, name, draft, uploads, stored, tag, subjects)
    except IntegrityError:
        forget_blobs(stored)
        raise VersionExists(f"{name}@{draft.version} was pushed by another request at the same time") from None
    except BaseException:
        forget_blobs(stored)
        raise


def _manifest_rows(actor: Actor, repository: Repository, fmt: str, name: str, draft: VersionDraft,
                   uploads: list[FileUpload], stored: list[StoredBlob], tag: str | None,
                   subjects: Iterable[str]) -> PackageVersion:
    with operation():
        package = find_package(repository.owner.login, fmt, name, include_deleted=True)
        if package is not None and package.repository_id != repository.id:
            _refuse_other_repository(actor, package, repository)
        if package is not None and package.deleted_at is not None:
            raise StillRestorable(f"{name} was deleted and can be restored; restore it or wait until it is "
                                  f"purged to publish it again")
        version = find_version(package, draft.version, include_deleted=True) if package else None
        if version is None:
            package, version = _version_rows(actor, repository.owner, repository, package, fmt, name, draft, uploads,
                                             stored, subjects)
        elif version.deleted_at is not None:
            PackageVersion.update(deleted_at=None, updated_at=utcnow()).where(PackageVersion.id == version.id).execute()
            touch(package)
            audit(actor, "package_version.republish", f"{fmt}:{package.name}@{version.version}")
            record(PUBLISHED, package.id, version.id, actor)
        if tag:
            tag_rows(actor, package, tag, version)
        return version


def add_version_file(
    actor: Actor,
    *,
    repository: Repository,
    fmt: str,
    name: str,
    version: str,
    upload: FileUpload,
    replace: bool = False,
    revise: Callable[[VersionDescription | None], VersionDraft] | None = None,
) -> PackageFile:
    """Add one file to `version` of the package `name`; the package (linked to `repository`) and the
    version are created by their first file.

    A file name the version already has is refused with FileExists unless `replace` (a version whose
    files may change, such as a Maven SNAPSHOT) lets the new content take its place. `revise` (for a
    file that describes the version, such as a pom) is given what the version says about itself as
    stored (None for a new version) and returns what it says from now on; it is called inside the
    operation, on the version's row locked, so that two descriptors deployed at once both count. A package
    of that name linked to another repository, or deleted and still restorable, is refused.
    Permissions are checked before any byte is stored; on any failure the bytes this call brought
    in are removed.
    """
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    package = find_package(repository.owner.login, fmt, name, include_deleted=True)
    if package is not None:
        _check_file_target(actor, package, repository, name, version, upload.name, replace)
    stored = store_uploads([upload], current_settings()["max_upload_bytes"])
    try:
        check_spending_limit(repository.owner, repository, stored[0].size)
        try:
            return _add_file_rows(actor, repository, fmt, name, version, upload, stored[0], replace, revise)
        except IntegrityError:
            # Another request created the package, version or file in between; its rows are there
            # now, so one more try either joins them or says why it cannot.
            return _add_file_rows(actor, repository, fmt, name, version, upload, stored[0], replace, revise)
    except IntegrityError:
        forget_blobs(stored)
        raise FileExists(f"{upload.name} was uploaded by another request at the same time") from None
    except BaseException:
        forget_blobs(stored)
        raise


def _refuse_other_repository(actor: Actor, package: Package, repository: Repository) -> NoReturn:
    """A package name is the owner's once: publishing it to `repository` while it belongs to another
    is refused, naming that repository only to those who may see it."""
    if hidden_from(actor, package.repository):
        raise NameTaken(f"the name {package.name} is taken in another repository of "
                        f"{repository.owner.login}: use another name in {repository.full_name}")
    raise NameTaken(
        f"{package.name} belongs to the repository {package.repository.full_name}: publish it there, "
        f"or use another name in {repository.full_name}")


def _check_file_target(actor: Actor, package: Package, repository: Repository, name: str, version: str,
                       file_name: str, replace: bool) -> None:
    if package.repository_id != repository.id:
        _refuse_other_repository(actor, package, repository)
    if package.name != name:
        raise InvalidUpload(f"{name} differs only in case from the existing package {package.name}: "
                            f"use its exact name")
    if package.deleted_at is not None:
        raise StillRestorable(f"{name} was deleted and can be restored; restore it or wait until it is purged "
                              f"to publish it again")
    row = PackageVersion.get_or_none((PackageVersion.package == package.id)
                                     & (PackageVersion.lower_version == version.lower()))
    if row is None:
        return
    if row.deleted_at is not None:
        raise StillRestorable(f"{name} {version} was deleted and can be restored; restore it or wait until it "
                            f"is purged to publish it again")
    if not replace and find_version_file(row, file_name) is not None:
        raise FileExists(f"{file_name} already exists in {name} {version}, and files of a published version "
                         f"cannot be replaced: publish a new version")


def _add_file_rows(actor: Actor, repository: Repository, fmt: str, name: str, version: str,
                   upload: FileUpload, blob: StoredBlob, replace: bool,
                   revise: Callable[[VersionDescription | None], VersionDraft] | None) -> PackageFile:
    with operation():
        now = utcnow()
        package = find_package(repository.owner.login, fmt, name, include_deleted=True)
        if package is None:
            package = Package.create(owner=repository.owner, repository=repository, format=fmt, name=name,
                                     lower_name=name.lower(), created_at=now, updated_at=now)
        else:
            _check_file_target(actor, package, repository, name, version, upload.name, replace)
            touch(package)
        target = f"{fmt}:{repository.owner.login}/{name}@{version}"
        row = (PackageVersion.select().where((PackageVersion.package == package.id)
                                             & (PackageVersion.lower_version == version.lower()))
               .for_update(not is_sqlite()).first())
        draft = None
        if revise is not None:
            draft = revise(VersionDescription(json.loads(row.metadata or "{}"), row.summary, row.license)
                           if row is not None else None)
        if row is None:
            row = PackageVersion.create(
                package=package, version=version, lower_version=version.lower(),
                metadata=json.dumps(draft.metadata if draft else {}), summary=draft.summary if draft else "",
                readme=draft.readme if draft else None, license=draft.license if draft else None,
                published_by=actor.user, created_at=now, updated_at=now,
                **(search_fields(fmt, draft.metadata, draft.summary) if draft else {}))
            audit(actor, "package_version.publish", target, repository=repository.full_name)
            record(PUBLISHED, package.id, row.id, actor)
        else:
            record(UPDATED, package.id, row.id, actor)
            if draft is not None:
                PackageVersion.update(metadata=json.dumps(draft.metadata), summary=draft.summary,
                                      readme=draft.readme, license=draft.license, updated_at=now,
                                      **search_fields(fmt, draft.metadata, draft.summary)).where(PackageVersion.id == row.id).execute()
        stored_row = blob_row(blob)
        existing = find_version_file(row, upload.name)
        if existing is None:
            package_file = PackageFile.create(version=row, name=upload.name, lower_name=upload.name.lower(),
                                              blob=stored_row, content_type=upload.content_type, created_at=now)
            audit(actor, "package_file.add", target, file=upload.name, sha256=blob.sha256)
        else:
            # Only a version whose files may change gets here (`replace`); the blob it held stays
            # until garbage collection, as a download of it may be under way.
            PackageFile.update(blob=stored_row, content_type=upload.content_type, created_at=now).where(
                PackageFile.id == existing.id).execute()
            package_file = PackageFile.get_by_id(existing.id)
            audit(actor, "package_file.replace", target, file=upload.name, sha256=blob.sha256,
                   previous_sha256=existing.blob.sha256)
        return package_file


def touch(package: Package) -> None:
    """Mark the package changed: its documents (and the caches and ETags built on them) are stale."""
    package.updated_at = utcnow()
    Package.update(updated_at=package.updated_at).where(Package.id == package.id).execute()


def _set_tag(package: Package, tag: str, version: PackageVersion) -> None:
    (PackageTag.insert(package=package.id, name=tag, version=version.id, updated_at=utcnow())
     .on_conflict(conflict_target=[PackageTag.package, PackageTag.name],
                  update={PackageTag.version: version.id, PackageTag.updated_at: utcnow()})
     .execute())


def tag_rows(actor: Actor, package: Package, tag: str, version: PackageVersion) -> None:
    """Point `tag` at `version`, inside the caller's operation."""
    _set_tag(package, tag, version)
    touch(package)
    audit(actor, "package_tag.set", f"{package.format}:{package.name}", tag=tag, version=version.version)
    record(UPDATED, package.id, version.id, actor)


def check_package_repository(actor: Actor, repository: Repository, fmt: str, name: str) -> None:
    """Refuse to publish `name` to `repository` when the owner's package of that name belongs to
    another of their repositories."""
    package = find_package(repository.owner.login, fmt, name, include_deleted=True)
    if package is not None and package.repository_id != repository.id:
        _refuse_other_repository(actor, package, repository)
