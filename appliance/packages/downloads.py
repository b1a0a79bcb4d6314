"""Counting downloads: one row per version and day."""
from __future__ import annotations

from collections.abc import Iterable

from peewee import fn

from appliance.models.base import utcnow
from appliance.models.packages import DownloadCount, Package, PackageVersion


def counts_as_download(method: str, range_start: int | None) -> bool:
    """What counts as a download, in every format: a GET of the whole file or of its start. A HEAD
    fetches nothing, and a GET resuming past the start continues a download already counted."""
    return method == "GET" and not range_start


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
