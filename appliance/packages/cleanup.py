"""Cleanup run by the scheduler: purging deletions past their retention, collecting blobs nothing
refers to, sweeping storage files no row knows of."""
from __future__ import annotations

import datetime as dt
import json

from peewee import IntegrityError, chunked

from appliance.db import database
from appliance.models.audit import AuditEvent
from appliance.models.base import utcnow
from appliance.models.packages import Blob, Package, PackageVersion
from appliance.models.uploads import BlobUpload
from appliance.packages.blobs import blob_store, unreferenced
from appliance.packages.lifecycle import restore_deadline

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


def collect_unreferenced_blobs(min_age: dt.timedelta = UNREFERENCED_BLOB_MIN_AGE) -> int:
    """Delete the blobs older than `min_age` that no file or staged blob refers to, from the database
    and storage. Returns how many went."""
    candidates = list(Blob.select(Blob.id, Blob.sha256)
                      .where((Blob.created_at < utcnow() - min_age) & unreferenced(Blob.id)))
    removed = 0
    for blob in candidates:
        try:
            with database.atomic():
                if Blob.delete().where((Blob.id == blob.id) & unreferenced(blob.id)).execute():
                    # The bytes go before the row's deletion commits: a publish of the same content
                    # waits for this transaction, then finds them gone (`blob_row`) rather than
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
            # A publish that matches these bytes meanwhile is refused by `blob_row`, never left
            # pointing at them.
            store.storage.delete(path)
            removed += 1
    return removed
