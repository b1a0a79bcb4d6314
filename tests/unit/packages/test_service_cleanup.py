"""Cleanup: deletions past the retention period are purged for good, and blobs nothing refers to any
more leave the database and storage, while everything still in use or restorable stays."""
from __future__ import annotations

import datetime as dt

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user
from appliance.auth.permissions import Actor
from appliance.auth.tokens import issue_token
from appliance.models import AuditEvent, Blob, DownloadCount, Package, PackageFile, PackageTag, PackageVersion
from appliance.models.base import utcnow
from appliance.packages import BlobCollected, FileUpload, VersionDraft
from appliance.storage.blobs import blob_path

ALL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]
LONG_AGO = dt.timedelta(days=31)  # past the default retention of 30 days


@pytest.fixture
def actor(app):
    with app.test_request_context():
        user = create_user("alice")
        create_repository(user, "hello")
        token, _ = issue_token(user, ALL_SCOPES)
        yield Actor(user=user, token=token)


def publish(actor, version: str, content: bytes, name: str = "hello"):
    return service.publish_version(
        actor, owner_login="alice", fmt="npm", name=name, draft=VersionDraft(version, {}),
        uploads=[FileUpload(f"{name}-{version}.tgz", [content])], repository_name="hello",
        default_repository_name=name, tags=["latest"])


def age_deletion(model, row_id, by: dt.timedelta) -> None:
    model.update(deleted_at=utcnow() - by).where(model.id == row_id).execute()


def age_blobs(by: dt.timedelta) -> None:
    Blob.update(created_at=utcnow() - by).execute()


def on_disk(bootstrap, sha256: str) -> bool:
    return (bootstrap.storage_path / blob_path(sha256)).exists()


def test_versions_deleted_past_retention_are_purged_with_their_files_tags_and_counts(actor):
    old = publish(actor, "1.0.0", b"old bytes")
    service.record_download(old)
    recent = publish(actor, "1.1.0", b"recent bytes")
    kept = publish(actor, "1.2.0", b"kept bytes")
    service.delete_version(actor, old)
    service.delete_version(actor, recent)
    age_deletion(PackageVersion, old.id, LONG_AGO)

    assert service.purge_expired_deletions() == (0, 1)

    assert PackageVersion.get_or_none(PackageVersion.id == old.id) is None
    assert not PackageFile.select().where(PackageFile.version == old.id).exists()
    assert not DownloadCount.select().where(DownloadCount.version == old.id).exists()
    # Deleted within the retention period: still restorable.
    service.restore_version(actor, PackageVersion.get_by_id(recent.id))
    assert service.find_version(old.package, "1.1.0") is not None
    assert service.find_version(old.package, "1.2.0").id == kept.id
    event = AuditEvent.select().where(AuditEvent.action == "packages.purge").get()
    assert event.actor_login == "scheduler" and '"versions": 1' in event.data


def test_purging_versions_moves_their_package_so_documents_built_from_it_are_built_again(actor):
    # Indexes that list deleted versions (RubyGems' /versions lists yanks) are cached by the package's
    # updated_at in every worker: a purge that left it alone left each worker's copy as it was.
    old = publish(actor, "1.0.0", b"old bytes")
    publish(actor, "1.1.0", b"kept bytes")
    service.delete_version(actor, old)
    age_deletion(PackageVersion, old.id, LONG_AGO)
    other = publish(actor, "1.0.0", b"other bytes", name="other")
    before = {p.name: p.updated_at for p in Package.select()}

    assert service.purge_expired_deletions() == (0, 1)

    after = {p.name: p.updated_at for p in Package.select()}
    assert after["hello"] > before["hello"]
    assert after["other"] == before["other"] == other.package.updated_at


def test_packages_deleted_past_retention_are_purged_with_everything_in_them(actor):
    version = publish(actor, "1.0.0", b"package bytes", name="gone")
    package = version.package
    service.delete_package(actor, package)
    age_deletion(Package, package.id, LONG_AGO)

    assert service.purge_expired_deletions() == (1, 0)

    assert Package.get_or_none(Package.id == package.id) is None
    assert not PackageVersion.select().where(PackageVersion.package == package.id).exists()
    assert not PackageTag.select().where(PackageTag.package == package.id).exists()
    # The name is free again.
    publish(actor, "2.0.0", b"new package bytes", name="gone")


def test_nothing_is_purged_within_retention(actor):
    version = publish(actor, "1.0.0", b"bytes")
    service.delete_version(actor, version)
    service.delete_package(actor, version.package)
    assert service.purge_expired_deletions() == (0, 0)
    assert PackageVersion.get_or_none(PackageVersion.id == version.id) is not None
    assert not AuditEvent.select().where(AuditEvent.action == "packages.purge").exists()


def test_blobs_no_file_refers_to_are_removed_and_shared_ones_stay(actor, bootstrap):
    purged = publish(actor, "1.0.0", b"only in the purged version")
    shared = publish(actor, "1.1.0", b"in both")
    publish(actor, "1.2.0", b"in both", name="other")
    purged_sha = purged.files[0].blob.sha256
    shared_sha = shared.files[0].blob.sha256
    for version in (purged, shared):
        service.delete_version(actor, version)
        age_deletion(PackageVersion, version.id, LONG_AGO)
    service.purge_expired_deletions()
    age_blobs(dt.timedelta(hours=2))

    assert service.collect_unreferenced_blobs() == 1

    assert Blob.get_or_none(Blob.sha256 == purged_sha) is None
    assert not on_disk(bootstrap, purged_sha)
    assert Blob.get_or_none(Blob.sha256 == shared_sha) is not None
    assert on_disk(bootstrap, shared_sha)


def test_young_unreferenced_blobs_stay_as_their_publish_may_be_under_way(actor, bootstrap):
    version = publish(actor, "1.0.0", b"young")
    sha = version.files[0].blob.sha256
    PackageFile.delete().where(PackageFile.version == version.id).execute()

    assert service.collect_unreferenced_blobs() == 0
    assert on_disk(bootstrap, sha)
    assert service.collect_unreferenced_blobs(min_age=dt.timedelta(0)) == 1
    assert not on_disk(bootstrap, sha)


def test_a_publish_that_matched_bytes_collected_meanwhile_is_refused_and_leaves_nothing(actor, app, bootstrap):
    """The race the collection guards against: an upload finds its content stored already, the
    collection removes it before the publish's rows are written; the publish must not point at it."""
    first = publish(actor, "1.0.0", b"raced bytes")
    sha = first.files[0].blob.sha256
    service.delete_version(actor, first)
    age_deletion(PackageVersion, first.id, LONG_AGO)
    service.purge_expired_deletions()

    store = app.extensions["appliance.blobs"]
    real_ingest = store.ingest

    def ingest_then_collect(*args, **kwargs):
        stored = real_ingest(*args, **kwargs)
        assert not stored.newly_stored
        service.collect_unreferenced_blobs(min_age=dt.timedelta(0))
        return stored

    store.ingest = ingest_then_collect
    try:
        with pytest.raises(BlobCollected, match="send it again"):
            publish(actor, "1.1.0", b"raced bytes")
    finally:
        store.ingest = real_ingest

    assert service.find_version(first.package, "1.1.0") is None
    assert Blob.get_or_none(Blob.sha256 == sha) is None
    # Sent again, it is stored anew.
    again = publish(actor, "1.1.0", b"raced bytes")
    assert on_disk(bootstrap, again.files[0].blob.sha256)


def test_files_no_row_knows_are_swept_once_old_and_everything_known_stays(actor, app, bootstrap):
    import os

    from appliance.accounts.service import find_repository

    storage = app.extensions["appliance.blobs"].storage
    kept = publish(actor, "1.0.0", b"a blob with its row").files[0].blob.sha256
    session = service.start_upload(actor, find_repository("alice", "hello"), "docker", "image")
    for path, data in [("uploads/crashed-ingest", b"half an upload"),
                       ("blobs/sha256/ee/" + "e" * 64, b"bytes whose row never came"),
                       ("uploads/recent-ingest", b"still being written")]:
        writer = storage.writer(path)
        writer.write(data)
        writer.commit()
    two_days_ago = (utcnow() - dt.timedelta(days=2)).replace(tzinfo=dt.UTC).timestamp()
    for path in ["uploads/crashed-ingest", "blobs/sha256/ee/" + "e" * 64, blob_path(kept), session.path]:
        os.utime(bootstrap.storage_path / path, (two_days_ago, two_days_ago))

    assert service.sweep_storage_leftovers() == 2

    left = {o.path for prefix in ("uploads", "blobs") for o in storage.list(prefix)}
    assert left == {blob_path(kept), session.path, "uploads/recent-ingest"}
