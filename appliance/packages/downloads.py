"""Counting downloads: one row per version and day, and each version's total over all days beside them."""
from __future__ import annotations

import datetime as dt

from peewee import fn

from appliance.db import database
from appliance.models.base import utcnow
from appliance.models.packages import DownloadCount, Package, PackageVersion


def counts_as_download(method: str, range_start: int | None) -> bool:
    """What counts as a download, in every format: a GET of the whole file or of its start. A HEAD
    fetches nothing, and a GET resuming past the start continues a download already counted."""
    return method == "GET" and not range_start


def record_download(version: PackageVersion, *, count: int = 1, day: dt.date | None = None) -> None:
    """Count `count` downloads of `version` on `day` (today): the day's row and the version's total
    (`PackageVersion.downloads`, what pages and indexes read) move together, in one transaction."""
    with database.atomic():
        # The version's row first, as deleting a version (its download rows cascading) locks them.
        PackageVersion.update(downloads=PackageVersion.downloads + count).where(
            PackageVersion.id == version.id).execute()
        (DownloadCount.insert(version=version.id, day=day or utcnow().date(), count=count)
         .on_conflict(conflict_target=[DownloadCount.version, DownloadCount.day],
                      update={DownloadCount.count: DownloadCount.count + count})
         .execute())


def download_total(package: Package) -> int:
    total = PackageVersion.select(fn.SUM(PackageVersion.downloads)).where(PackageVersion.package == package.id).scalar()
    return int(total or 0)
