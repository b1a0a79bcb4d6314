"""How much the packages hold, for the console and billing: storage per owner and per format, the blob
store's deduplication saving, and a page of packages with their versions, size and downloads."""
from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, Case, fn

from appliance.db import database
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.jobs import OwnerStorage, StorageUsage
from appliance.models.packages import Blob, Package, PackageFile, PackageVersion
from appliance.models.repositories import PRIVATE, Repository


@dataclass(frozen=True)
class StorageRow:
    owner: str
    format: str
    packages: int
    bytes: int


def count_owner_storage() -> int:
    """Count every owner's live packages and their files' bytes per format (and of those in private
    repositories) into OwnerStorage, replacing the last count; returns how many rows it holds. The
    storage_usage job calls it, so pages read the count instead of adding up every file."""
    private = fn.SUM(Case(None, [(Repository.visibility == PRIVATE, Blob.size)], 0))
    rows = (PackageFile.select(Package.owner, Package.format, fn.COUNT(Package.id.distinct()), fn.SUM(Blob.size),
                               private)
            .join(Blob).switch(PackageFile).join(PackageVersion).join(Package)
            .join(Repository, on=(Package.repository == Repository.id))
            .where(Package.deleted_at.is_null())
            .group_by(Package.owner, Package.format).tuples())
    now = utcnow()
    counted = [{"owner": owner, "format": fmt, "packages": packages, "bytes": int(size or 0),
                "private_bytes": int(private_size or 0), "updated_at": now}
               for owner, fmt, packages, size, private_size in rows]
    with database.atomic():
        OwnerStorage.delete().execute()
        for start in range(0, len(counted), 500):
            OwnerStorage.insert_many(counted[start:start + 500]).execute()
    return len(counted)


def storage_by_owner_and_format(limit: int = 200) -> list[StorageRow]:
    """The largest owner-and-format pairs, as last counted (count_owner_storage)."""
    rows = (OwnerStorage.select(Account.login, OwnerStorage.format, OwnerStorage.packages, OwnerStorage.bytes)
            .join(Account, on=(OwnerStorage.owner == Account.id))
            .order_by(OwnerStorage.bytes.desc()).limit(limit).tuples())
    return [StorageRow(owner, fmt, packages, size) for owner, fmt, packages, size in rows]


def storage_by_format() -> list[tuple[str, int]]:
    """Bytes of every format's files (restorable deleted ones too: storage still holds them), largest
    first, as the storage_usage job last counted them."""
    rows = (StorageUsage.select(StorageUsage.format, StorageUsage.bytes)
            .where((StorageUsage.format != ALL_BLOBS) & (StorageUsage.bytes > 0))
            .order_by(StorageUsage.bytes.desc()).tuples())
    return [(fmt, int(size)) for fmt, size in rows]


def storage_counted_at():
    """When the storage figures were last counted (None: never yet)."""
    return StorageUsage.select(fn.MAX(StorageUsage.updated_at)).scalar()


@dataclass(frozen=True)
class Deduplication:
    referenced_bytes: int  # what the files would take each with its own copy
    stored_bytes: int  # what the blob store holds

    @property
    def saved_bytes(self) -> int:
        return max(0, self.referenced_bytes - self.stored_bytes)


# The StorageUsage row of the blob store itself (see jobs.scheduler.storage_usage).
ALL_BLOBS = "blobs"


def deduplication() -> Deduplication:
    """From the storage_usage job's last count: the formats' files against the blobs that hold them."""
    counted = dict(StorageUsage.select(StorageUsage.format, StorageUsage.bytes).tuples())
    stored = counted.pop(ALL_BLOBS, 0)
    return Deduplication(int(sum(counted.values())), int(stored))


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
    """A page of live packages by owner, format and name, with their figures; and how many match in all.
    `text` is part of a package's name, or an owner's login."""
    matching = Package.select(Package.id).where(Package.deleted_at.is_null())
    if text:
        text = text.strip().lower()
        owner = Account.get_or_none(Account.lower_login == text)
        named = Package.lower_name.contains(text)
        matching = matching.where(named | (Package.owner == owner.id) if owner is not None else named)
    if fmt:
        matching = matching.where(Package.format == fmt)
    total = matching.count()
    # The page's ids first, in the order of the (owner, format, name) index; the rest for those alone.
    ids = [pid for (pid,) in matching.order_by(Package.owner, Package.format, Package.lower_name)
           .offset(offset).limit(limit).tuples()]
    if not ids:
        return [], total
    page = {row[0]: row for row in (Package.select(Package.id, Account.login, Package.format, Package.name,
                                                   Repository.name)
                                    .join(Repository).switch(Package)
                                    .join(Account, on=(Package.owner == Account.id))
                                    .where(Package.id.in_(ids)).tuples())}
    live_id = Case(None, [(PackageVersion.deleted_at.is_null(), PackageVersion.id)], None)
    counts = {pid: (live, int(downloads or 0)) for pid, live, downloads in PackageVersion.select(
        PackageVersion.package, fn.COUNT(live_id), fn.SUM(PackageVersion.downloads))
        .where(PackageVersion.package.in_(ids)).group_by(PackageVersion.package).tuples()}
    sizes = dict(PackageFile.select(PackageVersion.package, fn.SUM(Blob.size)).join(Blob)
                 .switch(PackageFile).join(PackageVersion)
                 .where(PackageVersion.package.in_(ids)).group_by(PackageVersion.package).tuples())
    rows = []
    for pid in ids:
        _, owner, fmt_, name, repo = page[pid]
        live, downloads = counts.get(pid, (0, 0))
        rows.append(PackageRow(pid, owner, fmt_, name, f"{owner}/{repo}", live, int(sizes.get(pid) or 0), downloads))
    return rows, total


def live_package_count(fmt: str) -> int:
    return Package.select().where((Package.format == fmt) & Package.deleted_at.is_null()).count()


def private_storage_bytes(owner_id: int) -> int:
    """Bytes of the files of the owner's packages in private repositories (deleted-but-restorable count:
    they are still stored)."""
    return int(PackageFile.select(fn.SUM(Blob.size)).join(Blob).switch(PackageFile).join(PackageVersion)
               .join(Package).join(Repository, JOIN.INNER, on=(Package.repository == Repository.id))
               .where((Package.owner == owner_id) & (Repository.visibility == PRIVATE)).scalar() or 0)
