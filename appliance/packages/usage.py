"""How much the packages hold, for the console and billing: storage per owner and per format, the blob
store's deduplication saving, and a page of packages with their versions, size and downloads."""
from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, fn

from appliance.models.accounts import Account
from appliance.models.packages import Blob, DownloadCount, Package, PackageFile, PackageVersion
from appliance.models.repositories import PRIVATE, Repository


@dataclass(frozen=True)
class StorageRow:
    owner: str
    format: str
    packages: int
    bytes: int


def storage_by_owner_and_format() -> list[StorageRow]:
    """Bytes of the files of live packages per owner and format (a blob counted once per file that uses it)."""
    rows = (PackageFile.select(Account.login, Package.format, fn.COUNT(Package.id.distinct()), fn.SUM(Blob.size))
            .join(Blob).switch(PackageFile).join(PackageVersion).join(Package)
            .join(Account, on=(Package.owner == Account.id))
            .where(Package.deleted_at.is_null())
            .group_by(Account.login, Package.format).order_by(fn.SUM(Blob.size).desc()).tuples())
    return [StorageRow(owner, fmt, packages, int(size or 0)) for owner, fmt, packages, size in rows]


@dataclass(frozen=True)
class Deduplication:
    referenced_bytes: int  # what the files would take each with its own copy
    stored_bytes: int  # what the blob store holds

    @property
    def saved_bytes(self) -> int:
        return max(0, self.referenced_bytes - self.stored_bytes)


def deduplication() -> Deduplication:
    referenced = PackageFile.select(fn.SUM(Blob.size)).join(Blob).scalar() or 0
    stored = Blob.select(fn.SUM(Blob.size)).scalar() or 0
    return Deduplication(int(referenced), int(stored))


@dataclass(frozen=True)
class PackageRow:
    id: int
    owner: str
    format: str
    name: str
    repository: str
    versions: int
    bytes: int
    downloads: int


def package_rows(text: str = "", fmt: str = "", *, offset: int = 0, limit: int = 50) -> tuple[list[PackageRow], int]:
    """A page of live packages by owner and name, with their figures; and how many match in all."""
    query = (Package.select(Package.id, Account.login, Package.format, Package.name, Repository.name)
             .join(Repository).switch(Package).join(Account, on=(Package.owner == Account.id))
             .where(Package.deleted_at.is_null()))
    if text:
        query = query.where(Package.lower_name.contains(text.strip().lower())
                            | (Account.lower_login == text.strip().lower()))
    if fmt:
        query = query.where(Package.format == fmt)
    total = query.count()
    page = list(query.order_by(Account.lower_login, Package.format, Package.lower_name)
                .offset(offset).limit(limit).tuples())
    ids = [row[0] for row in page]
    versions = dict(PackageVersion.select(PackageVersion.package, fn.COUNT(PackageVersion.id))
                    .where(PackageVersion.package.in_(ids) & PackageVersion.deleted_at.is_null())
                    .group_by(PackageVersion.package).tuples()) if ids else {}
    sizes = dict(PackageFile.select(PackageVersion.package, fn.SUM(Blob.size)).join(Blob)
                 .switch(PackageFile).join(PackageVersion)
                 .where(PackageVersion.package.in_(ids)).group_by(PackageVersion.package).tuples()) if ids else {}
    downloads = dict(DownloadCount.select(PackageVersion.package, fn.SUM(DownloadCount.count)).join(PackageVersion)
                     .where(PackageVersion.package.in_(ids)).group_by(PackageVersion.package).tuples()) if ids else {}
    rows = [PackageRow(pid, owner, fmt_, name, f"{owner}/{repo}", versions.get(pid, 0), int(sizes.get(pid) or 0),
                       int(downloads.get(pid) or 0)) for pid, owner, fmt_, name, repo in page]
    return rows, total


def live_package_count(fmt: str) -> int:
    return Package.select().where((Package.format == fmt) & Package.deleted_at.is_null()).count()


def private_storage_bytes(owner_id: int) -> int:
    """Bytes of the files of the owner's packages in private repositories (deleted-but-restorable count:
    they are still stored)."""
    return int(PackageFile.select(fn.SUM(Blob.size)).join(Blob).switch(PackageFile).join(PackageVersion)
               .join(Package).join(Repository, JOIN.INNER, on=(Package.repository == Repository.id))
               .where((Package.owner == owner_id) & (Repository.visibility == PRIVATE)).scalar() or 0)
