"""The packages service: the single write path for every format.

Formats parse what their clients send and ask this module to publish, tag, delete, restore and count;
they never touch the database or storage themselves. Every function that acts for a person takes the
Actor and asks the permissions module before doing anything.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, NoReturn

from flask import current_app
from peewee import JOIN, IntegrityError, chunked, fn

from appliance.accounts.service import find_account, find_repository
from appliance.auth.permissions import Action, Actor, authorize, authorize_listing
from appliance.db import database
from appliance.models.accounts import Account
from appliance.models.audit import AuditEvent
from appliance.models.base import utcnow
from appliance.models.packages import Blob, DownloadCount, Package, PackageFile, PackageTag, PackageVersion
from appliance.models.repositories import Repository
from appliance.models.uploads import BlobUpload, StagedBlob, VersionSubject
from appliance.packages.access import check_access, check_format_enabled, hidden_from, is_allowed
from appliance.packages.errors import (
    AccessDenied,
    BlobCollected,
    BlobNotFound,
    FileExists,
    InvalidUpload,
    PackageNotFound,
    RepositoryNotLinked,
    UploadNotFound,
    UploadOutOfOrder,
    UploadTooLarge,
    VersionExists,
    VersionNotFound,
)
from appliance.packages.events import DELETED, PUBLISHED, RESTORED, UPDATED, audit, operation, record
from appliance.settings import current_settings
from appliance.storage.base import PathNotFound
from appliance.storage.blobs import BlobDigestMismatch, BlobStore, BlobTooLarge, StoredBlob


def blob_store() -> BlobStore:
    return current_app.extensions["appliance.blobs"]


# ---- reading ---------------------------------------------------------------------------------------


def find_package(owner_login: str, fmt: str, name: str, *, include_deleted: bool = False) -> Package | None:
    query = (Package.select(Package, Repository, Account)
             .join(Repository).join(Account, on=(Repository.owner == Account.id))
             .where((Account.lower_login == owner_login.lower()) & (Package.format == fmt)
                    & (Package.lower_name == name.lower())))
    if not include_deleted:
        query = query.where(Package.deleted_at.is_null())
    return query.first()


def readable_package(actor: Actor, owner_login: str, fmt: str, name: str,
                     action: Action = Action.READ) -> Package:
    """The package, if the actor may do `action` (read, by default) with it; otherwise AccessDenied
    (401/404 as the rules say; a 403 names what the action itself needs, not just reading)."""
    package = find_package(owner_login, fmt, name)
    check_access(actor, package.repository if package else None, action)
    return package


def readable_packages(actor: Actor, owner_login: str, fmt: str) -> list[Package]:
    """The live packages of `fmt` owned by `owner_login` that the actor may read, oldest first: what an
    index of the owner's packages lists. AccessDenied when the owner does not exist (as `readable_package`
    answers a missing package) or the actor may read no package at all (`authorize_listing`)."""
    anonymous_read = current_settings()["anonymous_read"]
    owner = find_account(owner_login)
    if owner is None:
        raise AccessDenied(authorize(actor, None, Action.READ, anonymous_read=anonymous_read))
    decision = authorize_listing(actor, anonymous_read=anonymous_read)
    if not decision.allowed:
        raise AccessDenied(decision)
    query = (Package.select(Package, Repository).join(Repository)
             .where((Package.owner == owner.id) & (Package.format == fmt) & Package.deleted_at.is_null())
             .order_by(Package.created_at, Package.id))
    readable: dict[int, bool] = {}  # decided once per repository, not per package
    found = []
    for package in query:
        if package.repository_id not in readable:
            readable[package.repository_id] = authorize(actor, package.repository, Action.READ,
                                                        anonymous_read=anonymous_read).allowed
        if readable[package.repository_id]:
            found.append(package)
    return found


def live_versions(package: Package) -> list[PackageVersion]:
    return list(PackageVersion.select().where((PackageVersion.package == package.id)
                                              & PackageVersion.deleted_at.is_null())
                .order_by(PackageVersion.created_at, PackageVersion.id))


def all_versions(package: Package) -> list[PackageVersion]:
    """Every version the package has, deleted (and still restorable) ones too, oldest first: for
    indexes that record deletions (RubyGems' /versions lists yanks)."""
    return list(PackageVersion.select().where(PackageVersion.package == package.id)
                .order_by(PackageVersion.created_at, PackageVersion.id))


def find_version(package: Package, version: str, *, include_deleted: bool = False) -> PackageVersion | None:
    query = ((PackageVersion.package == package.id) & (PackageVersion.lower_version == version.lower()))
    if not include_deleted:
        query &= PackageVersion.deleted_at.is_null()
    return PackageVersion.get_or_none(query)


def package_tags(package: Package) -> dict[str, str]:
    rows = (PackageTag.select(PackageTag.name, PackageVersion.version).join(PackageVersion)
            .where((PackageTag.package == package.id) & PackageVersion.deleted_at.is_null()))
    return {row.name: row.version.version for row in rows}


def files_of(versions: Iterable[PackageVersion]) -> dict[int, list[PackageFile]]:
    """Files (with their blobs) of many versions in one query, keyed by version id."""
    ids = [v.id for v in versions]
    result: dict[int, list[PackageFile]] = {i: [] for i in ids}
    if ids:
        for f in PackageFile.select(PackageFile, Blob).join(Blob).where(PackageFile.version.in_(ids)):
            result[f.version_id].append(f)
    return result


def find_file(package: Package, file_name: str) -> PackageFile | None:
    return (PackageFile.select(PackageFile, Blob, PackageVersion).join(Blob)
            .switch(PackageFile).join(PackageVersion)
            .where((PackageVersion.package == package.id) & PackageVersion.deleted_at.is_null()
                   & (PackageFile.lower_name == file_name.lower()))
            .first())


def open_file(package_file: PackageFile, offset: int = 0) -> BinaryIO:
    return blob_store().open(package_file.blob.sha256, offset)


def record_download(version: PackageVersion) -> None:
    today = utcnow().date()
    (DownloadCount.insert(version=version.id, day=today, count=1)
     .on_conflict(conflict_target=[DownloadCount.version, DownloadCount.day],
                  update={DownloadCount.count: DownloadCount.count + 1})
     .execute())


def download_total(package: Package) -> int:
    total = (DownloadCount.select(fn.SUM(DownloadCount.count)).join(PackageVersion)
             .where(PackageVersion.package == package.id).scalar())
    return int(total or 0)


def download_totals(versions: Iterable[PackageVersion]) -> dict[int, int]:
    """Downloads of each version over all days, keyed by version id, in one query."""
    ids = [v.id for v in versions]
    totals = {i: 0 for i in ids}
    if ids:
        rows = (DownloadCount.select(DownloadCount.version, fn.SUM(DownloadCount.count).alias("total"))
                .where(DownloadCount.version.in_(ids)).group_by(DownloadCount.version))
        for row in rows:
            totals[row.version_id] = int(row.total or 0)
    return totals


def search_packages(actor: Actor, fmt: str, text: str, *, limit: int = 20, offset: int = 0) -> list[Package]:
    """Packages of `fmt` whose name contains `text` that the actor may read, newest first."""
    query = (Package.select(Package, Repository, Account)
             .join(Repository).join(Account, on=(Repository.owner == Account.id))
             .where((Package.format == fmt) & Package.deleted_at.is_null())
             .order_by(Package.updated_at.desc()))
    if text:
        query = query.where(Package.lower_name.contains(text.lower()))
    anonymous_read = current_settings()["anonymous_read"]
    found = []
    # Permission rules live in one place; filtering here keeps them there at the cost of a scan.
    for package in query.iterator():
        if authorize(actor, package.repository, Action.READ, anonymous_read=anonymous_read).allowed:
            if offset:
                offset -= 1
                continue
            found.append(package)
            if len(found) >= limit:
                break
    return found


# ---- publishing ------------------------------------------------------------------------------------


@dataclass
class FileUpload:
    """One file of a version as the client sent it: a name, the bytes, and what it claims about them."""

    name: str
    chunks: Iterable[bytes]
    content_type: str = "application/octet-stream"
    expected_digests: dict[str, str] = field(default_factory=dict)
    algorithms: tuple[str, ...] = ()  # digests the format needs kept besides sha256
    # A blob already in the store (an OCI layer pushed before its manifest): referenced, not sent again.
    stored_sha256: str | None = None


@dataclass
class VersionDraft:
    version: str
    metadata: dict
    summary: str = ""
    readme: str | None = None
    license: str | None = None


def link_repository(actor: Actor, owner: Account, named: str | None, default: str,
                    how_to_name: str) -> Repository:
    """The repository a new package belongs to: the one its metadata names, else the one named `default`.

    `how_to_name` tells the person at the client how their format names a repository. A repository
    the actor cannot see is answered exactly like one that does not exist, so that publishing cannot
    probe for private repository names.
    """
    def visible(name: str) -> Repository | None:
        repository = find_repository(owner.login, name)
        if repository is None or hidden_from(actor, repository):
            return None
        return repository

    if named:
        repository = visible(named)
        if repository is None:
            raise RepositoryNotLinked(
                f"the package names the repository {owner.login}/{named}, which does not exist: create it "
                f"or name an existing repository of {owner.login} ({how_to_name})")
        return repository
    repository = visible(default)
    if repository is None:
        raise RepositoryNotLinked(
            f"no repository to link this package to: name a repository of {owner.login} ({how_to_name}) "
            f"or create the repository {owner.login}/{default}")
    return repository


def _store_uploads(uploads: list[FileUpload], max_size: int) -> list[StoredBlob]:
    stored: list[StoredBlob] = []
    try:
        for upload in uploads:
            if upload.stored_sha256:
                row = Blob.get_or_none(Blob.sha256 == upload.stored_sha256)
                if row is None:
                    raise BlobNotFound(f"{upload.name} is not in the blob store")
                stored.append(StoredBlob(row.sha256, row.size, {"sha256": row.sha256}, newly_stored=False))
                continue
            try:
                stored.append(blob_store().ingest(
                    upload.chunks, expected=upload.expected_digests, algorithms=upload.algorithms,
                    max_size=max_size))
            except BlobDigestMismatch as e:
                raise InvalidUpload(f"{upload.name} does not match its checksum: {e}") from None
            except BlobTooLarge as e:
                raise UploadTooLarge(f"{upload.name} is larger than this appliance accepts ({e.limit} bytes)") \
                    from None
    except BaseException:
        _forget_blobs(stored)
        raise
    return stored


def _forget_blobs(stored: Iterable[StoredBlob]) -> None:
    """Remove blobs this request brought in and nothing references, after a failed write."""
    for blob in stored:
        if not blob.newly_stored:
            continue
        row = Blob.get_or_none(Blob.sha256 == blob.sha256)
        if row is None or Blob.select().where((Blob.id == row.id) & _unreferenced(row.id)).exists():
            if row is not None:
                row.delete_instance()
            blob_store().delete(blob.sha256)


def _blob_row(stored: StoredBlob) -> Blob:
    digests = stored.digests
    Blob.insert(sha256=stored.sha256, size=stored.size, sha1=digests.get("sha1"), md5=digests.get("md5"),
                sha512=digests.get("sha512")).on_conflict_ignore().execute()
    row = Blob.get(Blob.sha256 == stored.sha256)
    if not stored.newly_stored and not blob_store().exists(stored.sha256):
        # The upload matched bytes that were stored already, and `collect_unreferenced_blobs` removed
        # them in between: nothing may come to point at them.
        raise BlobCollected("the appliance was removing the same content as this upload at that very "
                            "moment: send it again")
    missing = {k: digests[k] for k in ("sha1", "md5", "sha512") if digests.get(k) and not getattr(row, k)}
    if missing:
        Blob.update(**missing).where(Blob.id == row.id).execute()
        row = Blob.get_by_id(row.id)
    return row


def _refuse_hidden_name(actor: Actor, owner: Account, name: str, repository_name: str | None, default: str,
                        how_to_name: str) -> NoReturn:
    """Answer a publish of a name taken in a repository the actor cannot see as a name nobody took is
    answered, as far as that goes: where a new name would be published, this one is refused, as names
    are unique per owner; nothing says where it is taken."""
    repository = link_repository(actor, owner, repository_name, default, how_to_name)
    check_access(actor, repository, Action.WRITE)
    raise RepositoryNotLinked(f"the name {name} is taken in another repository of {owner.login}: "
                              f"publish under another name")


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
    how_to_name_repository: str,
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
        raise AccessDenied(authorize(actor, None, Action.WRITE, anonymous_read=False))
    package = find_package(owner.login, fmt, name, include_deleted=True)
    if package is not None and hidden_from(actor, package.repository):
        _refuse_hidden_name(actor, owner, name, repository_name, default_repository_name, how_to_name_repository)
    if package is not None and package.deleted_at is not None:
        raise VersionExists(
            f"{name} was deleted and can be restored; restore it or wait until it is purged to publish it again"
        )
    repository = package.repository if package else None
    if repository is None:
        if actor.is_anonymous:
            check_access(actor, None, Action.WRITE)
        repository = link_repository(actor, owner, repository_name, default_repository_name,
                                     how_to_name_repository)
    check_access(actor, repository, Action.WRITE)
    if package is not None and PackageVersion.select().where(
            (PackageVersion.package == package.id)
            & (PackageVersion.lower_version == draft.version.lower())).exists():
        raise VersionExists(f"{name}@{draft.version} already exists: versions cannot be replaced, "
                            f"publish a new version")

    stored = _store_uploads(uploads, current_settings()["max_upload_bytes"])
    try:
        with operation():
            now = utcnow()
            if package is None:
                package = Package.create(owner=owner, repository=repository, format=fmt, name=name,
                                         lower_name=name.lower(), created_at=now, updated_at=now)
            else:
                _touch(package)
            version = PackageVersion.create(
                package=package, version=draft.version, lower_version=draft.version.lower(),
                metadata=json.dumps(draft.metadata), summary=draft.summary, readme=draft.readme,
                license=draft.license, published_by=actor.user, created_at=now, updated_at=now)
            for upload, blob in zip(uploads, stored):
                PackageFile.create(version=version, name=upload.name, lower_name=upload.name.lower(),
                                   blob=_blob_row(blob), content_type=upload.content_type, created_at=now)
            for tag in tags:
                _set_tag(package, tag, version)
            for subject in subjects:
                VersionSubject.create(version=version, subject=subject)
            audit(actor, "package_version.publish", f"{fmt}:{owner.login}/{name}@{draft.version}",
                   repository=repository.full_name)
            record(PUBLISHED, package.id, version.id, actor)
    except IntegrityError:
        _forget_blobs(stored)
        # Two publishes of the same version raced; the other one won.
        raise VersionExists(f"{name}@{draft.version} already exists: versions cannot be replaced") from None
    except BaseException:
        _forget_blobs(stored)
        raise
    return version


# ---- publishing file by file (clients that upload a version one file per request: Maven, Gradle) ----


def accessible_repository(actor: Actor, owner_login: str, repository_name: str, action: Action) -> Repository:
    """The repository OWNER/NAME if the actor may do `action` with its packages; otherwise AccessDenied
    (401 for anonymous, 404 when it does not exist or the actor cannot see it, 403 short of rights)."""
    repository = find_repository(owner_login, repository_name)
    check_access(actor, repository, action)
    return repository


def repository_package(repository: Repository, fmt: str, name: str) -> Package | None:
    """The live package `name` of the repository's owner, only when it is linked to this repository."""
    package = find_package(repository.owner.login, fmt, name)
    if package is None or package.repository_id != repository.id:
        return None
    return package


def find_version_file(version: PackageVersion, file_name: str) -> PackageFile | None:
    return (PackageFile.select(PackageFile, Blob).join(Blob)
            .where((PackageFile.version == version.id) & (PackageFile.lower_name == file_name.lower()))
            .first())


def find_package_file(repository: Repository, fmt: str, name: str, version: str, file_name: str) -> PackageFile | None:
    """The file of a live version of the live package `name` linked to `repository`, in one query
    (downloads ask this for every request). Its `version` carries only the version's id."""
    return (PackageFile.select(PackageFile, Blob, PackageVersion.id).join(Blob)
            .switch(PackageFile).join(PackageVersion).join(Package)
            .where((Package.repository == repository.id) & (Package.format == fmt)
                   & (Package.lower_name == name.lower()) & Package.deleted_at.is_null()
                   & (PackageVersion.lower_version == version.lower()) & PackageVersion.deleted_at.is_null()
                   & (PackageFile.lower_name == file_name.lower()))
            .first())


def add_version_file(
    actor: Actor,
    *,
    repository: Repository,
    fmt: str,
    name: str,
    version: str,
    upload: FileUpload,
    replace: bool = False,
    draft: VersionDraft | None = None,
) -> PackageFile:
    """Add one file to `version` of the package `name`; the package (linked to `repository`) and the
    version are created by their first file.

    A file name the version already has is refused with FileExists unless `replace` (a version whose
    files may change, such as a Maven SNAPSHOT) lets the new content take its place. `draft` (from
    the version's descriptor, such as a pom) replaces what the version says about itself. A package
    of that name linked to another repository, or deleted and still restorable, is refused.
    Permissions are checked before any byte is stored; on any failure the bytes this call brought
    in are removed.
    """
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    package = find_package(repository.owner.login, fmt, name, include_deleted=True)
    if package is not None:
        _check_file_target(actor, package, repository, name, version, upload.name, replace)
    stored = _store_uploads([upload], current_settings()["max_upload_bytes"])
    try:
        try:
            return _add_file_rows(actor, repository, fmt, name, version, upload, stored[0], replace, draft)
        except IntegrityError:
            # Another request created the package, version or file in between; its rows are there
            # now, so one more try either joins them or says why it cannot.
            return _add_file_rows(actor, repository, fmt, name, version, upload, stored[0], replace, draft)
    except IntegrityError:
        _forget_blobs(stored)
        raise FileExists(f"{upload.name} was uploaded by another request at the same time") from None
    except BaseException:
        _forget_blobs(stored)
        raise


def _refuse_other_repository(actor: Actor, package: Package, repository: Repository) -> NoReturn:
    """A package name is the owner's once: publishing it to `repository` while it belongs to another
    is refused, naming that repository only to those who may see it."""
    if hidden_from(actor, package.repository):
        raise RepositoryNotLinked(f"the name {package.name} is taken in another repository of "
                                  f"{repository.owner.login}: use another name in {repository.full_name}")
    raise RepositoryNotLinked(
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
        raise VersionExists(f"{name} was deleted and can be restored; restore it or wait until it is purged "
                            f"to publish it again")
    row = PackageVersion.get_or_none((PackageVersion.package == package.id)
                                     & (PackageVersion.lower_version == version.lower()))
    if row is None:
        return
    if row.deleted_at is not None:
        raise VersionExists(f"{name} {version} was deleted and can be restored; restore it or wait until it "
                            f"is purged to publish it again")
    if not replace and find_version_file(row, file_name) is not None:
        raise FileExists(f"{file_name} already exists in {name} {version}, and files of a published version "
                         f"cannot be replaced: publish a new version")


def _add_file_rows(actor: Actor, repository: Repository, fmt: str, name: str, version: str,
                   upload: FileUpload, blob: StoredBlob, replace: bool, draft: VersionDraft | None) -> PackageFile:
    with operation():
        now = utcnow()
        package = find_package(repository.owner.login, fmt, name, include_deleted=True)
        if package is None:
            package = Package.create(owner=repository.owner, repository=repository, format=fmt, name=name,
                                     lower_name=name.lower(), created_at=now, updated_at=now)
        else:
            _check_file_target(actor, package, repository, name, version, upload.name, replace)
            _touch(package)
        target = f"{fmt}:{repository.owner.login}/{name}@{version}"
        row = PackageVersion.get_or_none((PackageVersion.package == package.id)
                                         & (PackageVersion.lower_version == version.lower()))
        if row is None:
            row = PackageVersion.create(
                package=package, version=version, lower_version=version.lower(),
                metadata=json.dumps(draft.metadata if draft else {}), summary=draft.summary if draft else "",
                readme=draft.readme if draft else None, license=draft.license if draft else None,
                published_by=actor.user, created_at=now, updated_at=now)
            audit(actor, "package_version.publish", target, repository=repository.full_name)
            record(PUBLISHED, package.id, row.id, actor)
        else:
            record(UPDATED, package.id, row.id, actor)
            if draft is not None:
                PackageVersion.update(metadata=json.dumps(draft.metadata), summary=draft.summary,
                                      readme=draft.readme, license=draft.license,
                                      updated_at=now).where(PackageVersion.id == row.id).execute()
        blob_row = _blob_row(blob)
        existing = find_version_file(row, upload.name)
        if existing is None:
            package_file = PackageFile.create(version=row, name=upload.name, lower_name=upload.name.lower(),
                                              blob=blob_row, content_type=upload.content_type, created_at=now)
            audit(actor, "package_file.add", target, file=upload.name, sha256=blob.sha256)
        else:
            # Only a version whose files may change gets here (`replace`); the blob it held stays
            # until garbage collection, as a download of it may be under way.
            PackageFile.update(blob=blob_row, content_type=upload.content_type, created_at=now).where(
                PackageFile.id == existing.id).execute()
            package_file = PackageFile.get_by_id(existing.id)
            audit(actor, "package_file.replace", target, file=upload.name, sha256=blob.sha256,
                   previous_sha256=existing.blob.sha256)
        return package_file


def _touch(package: Package) -> None:
    """Mark the package changed: its documents (and the caches and ETags built on them) are stale."""
    package.updated_at = utcnow()
    Package.update(updated_at=package.updated_at).where(Package.id == package.id).execute()


def _set_tag(package: Package, tag: str, version: PackageVersion) -> None:
    (PackageTag.insert(package=package.id, name=tag, version=version.id, updated_at=utcnow())
     .on_conflict(conflict_target=[PackageTag.package, PackageTag.name],
                  update={PackageTag.version: version.id, PackageTag.updated_at: utcnow()})
     .execute())


def set_tag(actor: Actor, package: Package, tag: str, version: str, *,
            action: Action = Action.WRITE) -> None:
    """Point `tag` at `version`: a write, except when it re-points a tag whose version is being deleted
    (`action=Action.DELETE`), which is part of that deletion."""
    check_access(actor, package.repository, action)
    target = find_version(package, version)
    if target is None:
        raise VersionNotFound(f"{package.name} has no version {version}")
    with operation():
        _set_tag(package, tag, target)
        _touch(package)
        audit(actor, "package_tag.set", f"{package.format}:{package.name}", tag=tag, version=version)
        record(UPDATED, package.id, target.id, actor)


def remove_tag(actor: Actor, package: Package, tag: str, *, action: Action = Action.WRITE) -> None:
    """Remove `tag`: a write, or a deletion (`action=Action.DELETE`) where the protocol deletes tags
    (OCI's DELETE of a manifest by tag)."""
    check_access(actor, package.repository, action)
    with operation():
        removed = PackageTag.delete().where((PackageTag.package == package.id) & (PackageTag.name == tag)).execute()
        if not removed:
            raise VersionNotFound(f"{package.name} has no tag {tag}")
        _touch(package)
        audit(actor, "package_tag.remove", f"{package.format}:{package.name}", tag=tag)
        record(UPDATED, package.id, None, actor)


def update_version_metadata(actor: Actor, version: PackageVersion, metadata: dict, *,
                            action: Action = Action.WRITE) -> None:
    """Change what a version says about itself (npm deprecation); its files never change. A change
    that takes the place of deleting it (NuGet's unlist and relist) is asked for as `Action.DELETE`."""
    package = version.package
    check_access(actor, package.repository, action)
    with operation():
        now = utcnow()
        PackageVersion.update(metadata=json.dumps(metadata), updated_at=now).where(
            PackageVersion.id == version.id).execute()
        _touch(package)
        audit(actor, "package_version.update", f"{package.format}:{package.name}@{version.version}")
        record(UPDATED, package.id, version.id, actor)


# ---- deleting and restoring ------------------------------------------------------------------------


def delete_version(actor: Actor, version: PackageVersion) -> None:
    """Soft-delete a version: gone from every index, restorable for `retention.deleted_days`."""
    package = version.package
    check_access(actor, package.repository, Action.DELETE)
    with operation():
        now = utcnow()
        PackageVersion.update(deleted_at=now).where(PackageVersion.id == version.id).execute()
        PackageTag.delete().where(PackageTag.version == version.id).execute()
        _touch(package)
        audit(actor, "package_version.delete", f"{package.format}:{package.name}@{version.version}")
        record(DELETED, package.id, version.id, actor)


def delete_package(actor: Actor, package: Package) -> None:
    check_access(actor, package.repository, Action.DELETE)
    with operation():
        Package.update(deleted_at=utcnow()).where(Package.id == package.id).execute()
        _touch(package)
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
        _touch(package)
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
        _touch(package)
        audit(actor, "package_version.restore", f"{package.format}:{package.name}@{version.version}")
        record(RESTORED, package.id, version.id, actor)


def list_packages(owner_login: str | None = None, fmt: str | None = None) -> list[Package]:
    query = (Package.select(Package, Repository, Account)
             .join(Repository).join(Account, JOIN.INNER, on=(Repository.owner == Account.id))
             .where(Package.deleted_at.is_null()).order_by(Account.lower_login, Package.format, Package.lower_name))
    if owner_login:
        query = query.where(Account.lower_login == owner_login.lower())
    if fmt:
        query = query.where(Package.format == fmt)
    return list(query)


# ---- versions of content-addressed packages (OCI images) --------------------------------------------


def find_tagged_version(package: Package, tag: str) -> PackageVersion | None:
    return (PackageVersion.select().join(PackageTag, on=(PackageTag.version == PackageVersion.id))
            .where((PackageTag.package == package.id) & (PackageTag.name == tag)
                   & PackageVersion.deleted_at.is_null())
            .first())


def republish_version(actor: Actor, version: PackageVersion) -> None:
    """Bring back a deleted version whose identical content is published again. Only for versions named
    by the digest of their content (OCI manifests): nothing the version had can differ, so this is a
    write, not a restore, which needs delete rights."""
    package = version.package
    check_access(actor, package.repository, Action.WRITE)
    with operation():
        PackageVersion.update(deleted_at=None, updated_at=utcnow()).where(PackageVersion.id == version.id).execute()
        _touch(package)
        audit(actor, "package_version.republish", f"{package.format}:{package.name}@{version.version}")
        record(PUBLISHED, package.id, version.id, actor)


def referring_versions(package: Package, subject: str) -> list[PackageVersion]:
    """Live versions of the package that say they are about `subject` (OCI referrers), oldest first."""
    return list(PackageVersion.select().join(VersionSubject, on=(VersionSubject.version == PackageVersion.id))
                .where((PackageVersion.package == package.id) & (VersionSubject.subject == subject)
                       & PackageVersion.deleted_at.is_null())
                .order_by(PackageVersion.created_at, PackageVersion.id))


# ---- blobs before their version: resumable uploads and staged blobs (OCI layers) -------------------

# How long an upload nobody continues, and a staged blob no version refers to, are kept.
UPLOAD_EXPIRY = dt.timedelta(days=1)
STAGED_BLOB_EXPIRY = dt.timedelta(days=1)


def check_package_repository(actor: Actor, repository: Repository, fmt: str, name: str) -> None:
    """Refuse to publish `name` to `repository` when the owner's package of that name belongs to
    another of their repositories."""
    package = find_package(repository.owner.login, fmt, name, include_deleted=True)
    if package is not None and package.repository_id != repository.id:
        _refuse_other_repository(actor, package, repository)


def start_upload(actor: Actor, repository: Repository, fmt: str, name: str) -> BlobUpload:
    """Open a resumable upload of a blob for the package `name` of `repository` (needs write). Its
    state is in the database and its bytes on storage, so any worker or node can continue it."""
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    check_package_repository(actor, repository, fmt, name)
    upload_id = str(uuid.uuid4())
    path = f"uploads/sessions/{upload_id}"
    blob_store().storage.writer(path).commit()
    return BlobUpload.create(uuid=upload_id, repository=repository, format=fmt, package_name=name.lower(),
                             user=actor.user, path=path)


def find_upload(repository: Repository, fmt: str, name: str, upload_id: str) -> BlobUpload | None:
    return BlobUpload.get_or_none((BlobUpload.uuid == upload_id) & (BlobUpload.repository == repository.id)
                                  & (BlobUpload.format == fmt) & (BlobUpload.package_name == name.lower()))


def upload_size(upload: BlobUpload) -> int:
    """The bytes the upload holds: what storage has, which a request cut off midway may have grown."""
    size = blob_store().storage.stat(upload.path)
    if size is None:
        raise UploadNotFound("the upload's bytes are gone; start the upload again")
    return size


def append_to_upload(actor: Actor, upload: BlobUpload, chunks: Iterable[bytes], *, start: int | None = None,
                     max_size: int | None = None) -> int:
    """Append `chunks` to the upload, which must stand at `start` when one is given; returns its new
    size. Hashed on the way in: when this request brings the whole upload from its first byte, its
    sha256 is kept so that finishing it needs no second read. Past `max_size` (default: the
    appliance's upload limit), or when `chunks` raise UploadTooLarge, the upload is dropped; a request
    cut off keeps what arrived."""
    check_access(actor, upload.repository, Action.WRITE)
    limit = max_size if max_size is not None else current_settings()["max_upload_bytes"]
    size = upload_size(upload)
    if start is not None and start != size:
        raise UploadOutOfOrder(f"this chunk starts at byte {start}, but the upload holds {size} bytes: "
                               f"send the chunk that starts at {size}")
    writer = blob_store().storage.writer(upload.path, append=True)
    # Decided on what the writer found, not on `size`: another request may have appended in between.
    hasher = hashlib.sha256() if writer.size == 0 else None
    wrote = False
    try:
        for chunk in chunks:
            if writer.size + len(chunk) > limit:
                raise UploadTooLarge(f"the blob is larger than this appliance accepts ({limit} bytes)")
            writer.write(chunk)
            wrote = True
            if hasher is not None:
                hasher.update(chunk)
    except UploadTooLarge:
        writer.cancel()
        _drop_upload(upload)
        raise
    finally:
        writer.commit()
    if wrote:
        BlobUpload.update(size=writer.size, sha256=hasher.hexdigest() if hasher else None,
                          updated_at=utcnow()).where(BlobUpload.id == upload.id).execute()
    return writer.size


def complete_upload(actor: Actor, upload: BlobUpload, sha256: str) -> Blob:
    """Finish the upload as the blob `sha256` (verified) and stage it in its package: the upload file
    is moved into the content-addressed store, or dropped when the store has the content already.
    A digest that does not match drops the upload and raises InvalidUpload: nothing is stored."""
    check_access(actor, upload.repository, Action.WRITE)
    upload = BlobUpload.get_or_none(BlobUpload.id == upload.id)
    if upload is None:
        raise UploadNotFound("the upload was finished or cancelled by another request")
    hashed = (upload.sha256, upload.size) if upload.sha256 and upload.size == upload_size(upload) else None
    try:
        stored = blob_store().adopt(upload.path, sha256, hashed=hashed)
    except PathNotFound:
        raise UploadNotFound("the upload was finished or cancelled by another request") from None
    except BlobDigestMismatch as e:
        upload.delete_instance()
        raise InvalidUpload(f"the upload's sha256 is {e.actual}, not {e.expected}: nothing was stored") from None
    try:
        with database.atomic():
            blob = _blob_row(stored)
            _stage(upload.repository, upload.format, upload.package_name, blob)
            upload.delete_instance()
    except BaseException:
        # The bytes left the upload for the store: without a row nothing would ever collect them.
        _forget_blobs([stored])
        _drop_upload(upload)
        raise
    return blob


def cancel_upload(actor: Actor, upload: BlobUpload) -> None:
    check_access(actor, upload.repository, Action.WRITE)
    _drop_upload(upload)


def _drop_upload(upload: BlobUpload) -> None:
    blob_store().storage.delete(upload.path)
    BlobUpload.delete().where(BlobUpload.id == upload.id).execute()


def store_staged_blob(actor: Actor, repository: Repository, fmt: str, name: str, chunks: Iterable[bytes],
                      sha256: str) -> Blob:
    """Store a blob sent whole (verified against `sha256`) and stage it in the package `name`."""
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    check_package_repository(actor, repository, fmt, name)
    upload = FileUpload(name=f"sha256:{sha256}", chunks=chunks, expected_digests={"sha256": sha256})
    stored = _store_uploads([upload], current_settings()["max_upload_bytes"])
    try:
        with database.atomic():
            blob = _blob_row(stored[0])
            _stage(repository, fmt, name, blob)
    except BaseException:
        _forget_blobs(stored)
        raise
    return blob


def _stage(repository: Repository, fmt: str, name: str, blob: Blob) -> None:
    StagedBlob.insert(repository=repository.id, format=fmt, package_name=name.lower(), blob=blob.id,
                      created_at=utcnow()).on_conflict_ignore().execute()


def find_staged_blob(repository: Repository, fmt: str, name: str, sha256: str) -> Blob | None:
    """The blob `sha256` if it is staged in the package `name` of `repository` (pushed or mounted
    there, alone or with a version)."""
    return (Blob.select().join(StagedBlob)
            .where((StagedBlob.repository == repository.id) & (StagedBlob.format == fmt)
                   & (StagedBlob.package_name == name.lower()) & (Blob.sha256 == sha256))
            .first())


def open_blob(blob: Blob, offset: int = 0) -> BinaryIO:
    return blob_store().open(blob.sha256, offset)


def mount_blob(actor: Actor, source: Repository | None, source_name: str, repository: Repository, fmt: str,
               name: str, sha256: str) -> Blob | None:
    """Stage in the package `name` a blob staged in another package, without sending it again. Needs
    write on the target and read on the source; None when the source does not have it or the actor
    may not read it there (the client then uploads the blob)."""
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    check_package_repository(actor, repository, fmt, name)
    if source is None:
        return None
    if not is_allowed(actor, source, Action.READ):
        return None
    blob = find_staged_blob(source, fmt, source_name, sha256)
    if blob is not None:
        _stage(repository, fmt, name, blob)
    return blob


def unstage_blob(actor: Actor, repository: Repository, fmt: str, name: str, sha256: str) -> None:
    """Remove a blob from the package `name` (needs delete rights); the bytes stay for whatever else
    refers to them."""
    check_access(actor, repository, Action.DELETE)
    blob = find_staged_blob(repository, fmt, name, sha256)
    if blob is None:
        raise BlobNotFound(f"sha256:{sha256} is not in {name}")
    StagedBlob.delete().where((StagedBlob.repository == repository.id) & (StagedBlob.format == fmt)
                              & (StagedBlob.package_name == name.lower()) & (StagedBlob.blob == blob.id)).execute()
    audit(actor, "package_blob.delete", f"{fmt}:{repository.owner.login}/{name}", sha256=sha256)


def purge_abandoned_uploads(older_than: dt.timedelta) -> int:
    """Drop uploads nobody has continued for `older_than`, with their bytes; returns how many."""
    stale = list(BlobUpload.select().where(BlobUpload.updated_at < utcnow() - older_than))
    for upload in stale:
        _drop_upload(upload)
    return len(stale)


def purge_unused_staged_blobs(older_than: dt.timedelta) -> int:
    """Unstage blobs staged longer ago than `older_than` that no version of their package refers to
    (layers of pushes that never got their manifest, or of manifests purged after their deletion; a
    deleted manifest that can still be restored keeps its layers); returns how many."""
    used = (PackageFile.select(PackageFile.id).join(PackageVersion).join(Package)
            .where((PackageFile.blob == StagedBlob.blob) & (Package.repository == StagedBlob.repository)
                   & (Package.format == StagedBlob.format) & (Package.lower_name == StagedBlob.package_name)))
    return (StagedBlob.delete()
            .where((StagedBlob.created_at < utcnow() - older_than) & ~fn.EXISTS(used))
            .execute())


# ---- cleanup (run by the scheduler) ----------------------------------------------------------------

# Blobs are written before the rows that refer to them, so a young unreferenced blob may belong to a
# publish that is still under way.
UNREFERENCED_BLOB_MIN_AGE = dt.timedelta(hours=1)


def purge_expired_deletions() -> tuple[int, int]:
    """Remove for good the packages and versions deleted longer ago than `retention.deleted_days`, with
    their files, tags and download counts. Returns (packages, versions) purged; the blobs no file needs
    any more are left to `collect_unreferenced_blobs`."""
    deadline = restore_deadline()
    with database.atomic():
        # Their packages change (indexes that list yanks, cached by `updated_at`, are built again).
        Package.update(updated_at=utcnow()).where(Package.id.in_(
            PackageVersion.select(PackageVersion.package).where(PackageVersion.deleted_at < deadline))).execute()
        versions = PackageVersion.delete().where(PackageVersion.deleted_at < deadline).execute()
        packages = Package.delete().where(Package.deleted_at < deadline).execute()
        if packages or versions:
            AuditEvent.create(actor_login="scheduler", action="packages.purge",
                              target=f"deleted before {deadline.isoformat()}",
                              data=json.dumps({"packages": packages, "versions": versions}))
    return packages, versions


def _unreferenced(blob_id):
    """Neither a file nor a staged blob (pushed before the version that will name it) refers to it."""
    return (~fn.EXISTS(PackageFile.select(PackageFile.id).where(PackageFile.blob == blob_id))
            & ~fn.EXISTS(StagedBlob.select(StagedBlob.id).where(StagedBlob.blob == blob_id)))


def collect_unreferenced_blobs(min_age: dt.timedelta = UNREFERENCED_BLOB_MIN_AGE) -> int:
    """Delete the blobs older than `min_age` that no file or staged blob refers to, from the database
    and storage. Returns how many went."""
    candidates = list(Blob.select(Blob.id, Blob.sha256)
                      .where((Blob.created_at < utcnow() - min_age) & _unreferenced(Blob.id)))
    removed = 0
    for blob in candidates:
        try:
            with database.atomic():
                if Blob.delete().where((Blob.id == blob.id) & _unreferenced(blob.id)).execute():
                    # The bytes go before the row's deletion commits: a publish of the same content
                    # waits for this transaction, then finds them gone (`_blob_row`) rather than
                    # pointing at bytes about to vanish.
                    blob_store().delete(blob.sha256)
                    removed += 1
        except IntegrityError:
            continue  # a file came to refer to it meanwhile: it stays
    return removed


# Past this age no write under way can still claim a file (a 2 GiB upload takes minutes, not a day).
LEFTOVER_FILE_MIN_AGE = dt.timedelta(days=1)


def sweep_storage_leftovers(min_age: dt.timedelta = LEFTOVER_FILE_MIN_AGE) -> int:
    """Remove files of the blob store older than `min_age` that no row knows of: an upload's temporary
    file, or blob bytes whose row never came, left by a worker that died midway. Returns how many."""
    store = blob_store()
    leftovers = list(store.files_before(utcnow() - min_age))
    sessions = {path for path, sha256 in leftovers if sha256 is None}
    blobs = {sha256 for _, sha256 in leftovers if sha256 is not None}
    known = set()
    for batch in chunked(sorted(sessions), 500):
        known |= {row.path for row in BlobUpload.select(BlobUpload.path).where(BlobUpload.path.in_(batch))}
    for batch in chunked(sorted(blobs), 500):
        known |= {row.sha256 for row in Blob.select(Blob.sha256).where(Blob.sha256.in_(batch))}
    removed = 0
    for path, sha256 in leftovers:
        if (sha256 or path) not in known:
            # A publish that matches these bytes meanwhile is refused by `_blob_row`, never left
            # pointing at them.
            store.storage.delete(path)
            removed += 1
    return removed
