"""The packages service for blobs that come before their version (OCI layers): resumable uploads,
staging, mounts, content-addressed versions with subjects, and the permission checks on each."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user, grant
from appliance.auth.permissions import Actor
from appliance.auth.tokens import issue_token
from appliance.models import Blob, BlobUpload, StagedBlob
from appliance.models.base import utcnow
from appliance.packages import (
    AccessDenied,
    BlobNotFound,
    FileUpload,
    InvalidUpload,
    NameTaken,
    StillRestorable,
    TagNotFound,
    UploadOutOfOrder,
    UploadTooLarge,
    VersionDraft,
    blobs,
    uploads,
)
from appliance.storage.blobs import StoredBlob

FMT = "docker"
ALL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def world(app):
    with app.test_request_context():
        alice = create_user("alice")
        libs = create_repository(alice, "libs")
        other = create_repository(alice, "other")
        secret = create_repository(create_user("bob"), "secret", "private")
        reader = create_user("reader")
        grant(libs, reader, "read")
        yield {
            "alice": Actor(alice, issue_token(alice, ALL_SCOPES)[0]),
            "reader": Actor(reader, issue_token(reader, ALL_SCOPES)[0]),
            "libs": libs, "other": other, "secret": secret,
        }


def test_an_upload_in_chunks_becomes_a_staged_blob(world, bootstrap):
    alice, libs = world["alice"], world["libs"]
    upload = service.start_upload(alice, libs, FMT, "app")
    assert service.append_to_upload(alice, upload, [b"abc", b"def"], start=0) == 6
    assert BlobUpload.get().sha256 == sha256(b"abcdef")
    with pytest.raises(UploadOutOfOrder, match="starts at 6"):
        service.append_to_upload(alice, upload, [b"x"], start=3)
    assert service.append_to_upload(alice, upload, [b"ghi"], start=6) == 9
    assert BlobUpload.get().sha256 is None  # read again to finish
    blob = service.complete_upload(alice, upload, sha256(b"abcdefghi"))
    assert (blob.sha256, blob.size) == (sha256(b"abcdefghi"), 9)
    assert service.find_staged_blob(libs, FMT, "APP", blob.sha256) == blob
    assert service.find_staged_blob(world["other"], FMT, "app", blob.sha256) is None
    assert BlobUpload.select().count() == 0
    assert [p for p in (bootstrap.storage_path / "uploads").rglob("*") if p.is_file()] == []


def test_bytes_another_request_appends_before_the_writer_opens_are_not_left_out_of_the_hash(world, monkeypatch):
    # Two requests append to the same upload: the other one's bytes land after this one found the
    # upload empty but before it opened its writer. A hash of this request's bytes alone must not be
    # trusted for the whole file, or the content-addressed store keeps b"evil" + b"abc" as sha256(b"abc").
    alice, libs = world["alice"], world["libs"]
    upload = service.start_upload(alice, libs, FMT, "app")
    storage = service.blob_store().storage
    open_writer = storage.writer

    def writer_after_another_request(path, append=False):
        if append:
            monkeypatch.setattr(storage, "writer", open_writer)
            other = open_writer(path, append=True)
            other.write(b"evil")
            other.commit()
        return open_writer(path, append)

    monkeypatch.setattr(storage, "writer", writer_after_another_request)
    assert service.append_to_upload(alice, upload, [b"abc"]) == 7
    with pytest.raises(InvalidUpload):
        service.complete_upload(alice, upload, sha256(b"abc"))
    assert Blob.select().count() == 0
    assert not service.blob_store().exists(sha256(b"abc"))


@pytest.mark.parametrize("hashed", [True, False])
def test_bytes_appended_while_an_upload_is_finished_do_not_become_part_of_the_blob(world, monkeypatch, hashed):
    # A request still appending to the upload (a PATCH racing the PUT) writes after the upload's size was
    # checked: the blob stored under sha256(b"abc") must be those 3 bytes, however much the file grew.
    alice, libs = world["alice"], world["libs"]
    upload = service.start_upload(alice, libs, FMT, "app")
    service.append_to_upload(alice, upload, [b"abc"])
    if not hashed:
        BlobUpload.update(sha256=None).execute()  # as after several requests: the upload is read again
    store = service.blob_store()
    real_adopt, real_reader = store.adopt, store.storage.reader

    def append_junk(path):
        writer = store.storage.writer(path, append=True)
        writer.write(b"junk")
        writer.commit()

    def adopt_after_an_append(path, sha, **kwargs):
        append_junk(path)
        return real_adopt(path, sha, **kwargs)

    def reader_then_an_append(path, offset=0):
        stream = real_reader(path, offset)
        append_junk(path)
        return stream

    if hashed:
        monkeypatch.setattr(store, "adopt", adopt_after_an_append)
    else:
        monkeypatch.setattr(store.storage, "reader", reader_then_an_append)
    blob = service.complete_upload(alice, upload, sha256(b"abc"))
    assert (blob.sha256, blob.size, Blob.get().size) == (sha256(b"abc"), 3, 3)


def test_a_wrong_digest_drops_the_upload(world):
    alice = world["alice"]
    upload = service.start_upload(alice, world["libs"], FMT, "app")
    service.append_to_upload(alice, upload, [b"abc"])
    with pytest.raises(InvalidUpload, match="nothing was stored"):
        service.complete_upload(alice, upload, sha256(b"abd"))
    assert (BlobUpload.select().count(), Blob.select().count(), StagedBlob.select().count()) == (0, 0, 0)


@pytest.mark.parametrize("how", ["upload", "whole"])
def test_a_blob_that_fails_to_be_staged_leaves_nothing_behind(world, monkeypatch, how):
    alice, libs = world["alice"], world["libs"]

    def failing_stage(*_args):
        raise OSError("the database went away")

    monkeypatch.setattr(uploads, "_stage", failing_stage)
    with pytest.raises(OSError):
        if how == "upload":
            upload = service.start_upload(alice, libs, FMT, "app")
            service.append_to_upload(alice, upload, [b"layer"])
            service.complete_upload(alice, upload, sha256(b"layer"))
        else:
            service.store_staged_blob(alice, libs, FMT, "app", [b"layer"], sha256(b"layer"))
    assert (BlobUpload.select().count(), Blob.select().count()) == (0, 0)
    assert not service.blob_store().exists(sha256(b"layer"))


def test_a_failed_write_keeps_a_blob_another_push_staged_meanwhile(world):
    # The same content arrived through two requests at once: this one stored it, the other staged it.
    alice = world["alice"]
    service.store_staged_blob(alice, world["libs"], FMT, "app", [b"layer"], sha256(b"layer"))
    blobs.forget_blobs([StoredBlob(sha256(b"layer"), 5, {}, newly_stored=True)])
    assert service.find_staged_blob(world["libs"], FMT, "app", sha256(b"layer")) is not None
    assert service.blob_store().exists(sha256(b"layer"))


def test_an_upload_over_the_limit_is_dropped(world):
    alice = world["alice"]
    upload = service.start_upload(alice, world["libs"], FMT, "app")
    with pytest.raises(UploadTooLarge):
        service.append_to_upload(alice, upload, [b"abc", b"def"], max_size=4)
    assert BlobUpload.select().count() == 0


def test_uploads_need_write_and_a_name_the_owner_has_not_linked_elsewhere(world):
    with pytest.raises(AccessDenied):
        service.start_upload(world["reader"], world["libs"], FMT, "app")
    with pytest.raises(AccessDenied):
        service.store_staged_blob(world["reader"], world["libs"], FMT, "app", [b"x"], sha256(b"x"))
    service.store_staged_blob(world["alice"], world["libs"], FMT, "app", [b"x"], sha256(b"x"))
    publish(world["alice"], "app", [b"x"])
    with pytest.raises(NameTaken, match="alice/libs"):
        service.start_upload(world["alice"], world["other"], FMT, "app")


def publish(actor, name: str, blobs: list[bytes], *, subject: str | None = None, version: str | None = None):
    return service.publish_version(
        actor, owner_login="alice", fmt=FMT, name=name,
        draft=VersionDraft(version=version or f"sha256:{sha256(b''.join(blobs))}", metadata={}),
        uploads=[FileUpload(name="manifest.json", chunks=[b"{}"]),
                 *(FileUpload(name=f"sha256:{sha256(b)}", chunks=(), stored_sha256=sha256(b)) for b in blobs)],
        repository_name="libs", default_repository_name="libs",
        subjects=[subject] if subject else ())


def test_a_version_references_blobs_already_stored_without_sending_them_again(world):
    alice = world["alice"]
    service.store_staged_blob(alice, world["libs"], FMT, "app", [b"layer"], sha256(b"layer"))
    version = publish(alice, "app", [b"layer"])
    files = {f.name: f.blob.sha256 for f in service.files_of([version])[version.id]}
    assert files == {"manifest.json": sha256(b"{}"), f"sha256:{sha256(b'layer')}": sha256(b"layer")}
    with pytest.raises(BlobNotFound):
        publish(alice, "app", [b"never stored"])


def test_mounts_need_read_on_the_source(world):
    alice, libs, secret = world["alice"], world["libs"], world["secret"]
    service.store_staged_blob(alice, libs, FMT, "app", [b"layer"], sha256(b"layer"))
    assert service.mount_blob(alice, libs, "app", libs, FMT, "copy", sha256(b"layer")) is not None
    assert service.mount_blob(alice, libs, "nothing", libs, FMT, "copy2", sha256(b"layer")) is None
    assert service.mount_blob(alice, secret, "app", libs, FMT, "copy3", sha256(b"layer")) is None
    assert service.find_staged_blob(libs, FMT, "copy", sha256(b"layer")) is not None


def test_unstaging_needs_delete_rights(world):
    alice, libs = world["alice"], world["libs"]
    service.store_staged_blob(alice, libs, FMT, "app", [b"layer"], sha256(b"layer"))
    with pytest.raises(AccessDenied):
        service.unstage_blob(world["reader"], libs, FMT, "app", sha256(b"layer"))
    service.unstage_blob(alice, libs, FMT, "app", sha256(b"layer"))
    with pytest.raises(BlobNotFound):
        service.unstage_blob(alice, libs, FMT, "app", sha256(b"layer"))


def test_referrers_tags_and_republishing(world):
    alice = world["alice"]
    for data in (b"image", b"sbom"):
        service.store_staged_blob(alice, world["libs"], FMT, "app", [data], sha256(data))
    image = publish(alice, "app", [b"image"])
    sbom = publish(alice, "app", [b"sbom"], subject=image.version)
    package = service.find_package("alice", FMT, "app")
    assert [v.id for v in service.referring_versions(package, image.version)] == [sbom.id]
    service.move_tag(alice, package, "v1", image.version)
    assert service.find_tagged_version(package, "v1") == image
    service.delete_version(alice, sbom)
    assert service.referring_versions(package, image.version) == []
    assert service.find_version(package, sbom.version, include_deleted=True).deleted_at is not None
    # The same manifest pushed again brings the deleted version back: a write, not a restore.
    with pytest.raises(AccessDenied):
        push_manifest(world["reader"], world["libs"], "app", [b"sbom"], subject=image.version)
    assert push_manifest(alice, world["libs"], "app", [b"sbom"], subject=image.version, tag="sbom") == sbom
    assert [v.id for v in service.referring_versions(package, image.version)] == [sbom.id]
    assert service.find_tagged_version(package, "sbom") == sbom
    # Removing a tag is a write; deleting one (OCI's DELETE by tag) needs delete rights.
    delete_only = Actor(alice.user, issue_token(alice.user, ["read:packages", "delete:packages", "repo"])[0])
    with pytest.raises(AccessDenied):
        service.remove_tag(delete_only, package, "v1")
    service.delete_tag(delete_only, package, "v1")
    assert service.find_tagged_version(package, "v1") is None
    with pytest.raises(TagNotFound):
        service.remove_tag(alice, package, "v1")


def test_two_appends_at_the_same_offset_one_wins_and_the_other_appends_nothing(world):
    # The second request arrives while the first is still sending its bytes: the database row decides
    # (not a lock of this process), so the same holds between workers and nodes.
    alice, libs = world["alice"], world["libs"]
    upload = service.start_upload(alice, libs, FMT, "app")
    refused = []

    def first_request_body():
        yield b"first-"
        try:
            service.append_to_upload(alice, upload, [b"second"], start=0)
        except UploadOutOfOrder as e:
            refused.append(str(e))
        yield b"chunk"

    assert service.append_to_upload(alice, upload, first_request_body(), start=0) == len(b"first-chunk")
    assert refused and "another request" in refused[0]
    # Once the first is done, the second one's offset is no longer where the upload stands.
    with pytest.raises(UploadOutOfOrder, match="starts at byte 0, but the upload holds 11 bytes"):
        service.append_to_upload(alice, upload, [b"second"], start=0)
    assert service.complete_upload(alice, upload, sha256(b"first-chunk")).size == 11
    assert service.open_blob(Blob.get()).read() == b"first-chunk"


def test_a_hold_left_by_a_worker_that_died_mid_append_lapses(world):
    alice, libs = world["alice"], world["libs"]
    upload = service.start_upload(alice, libs, FMT, "app")
    BlobUpload.update(writing_until=utcnow() + uploads.WRITE_LEASE).execute()
    with pytest.raises(UploadOutOfOrder, match="another request"):
        service.append_to_upload(alice, upload, [b"abc"], start=0)
    with pytest.raises(UploadOutOfOrder, match="another request"):
        service.complete_upload(alice, upload, sha256(b""))
    BlobUpload.update(writing_until=utcnow() - dt.timedelta(seconds=1)).execute()
    assert service.append_to_upload(alice, upload, [b"abc"], start=0) == 3
    assert BlobUpload.get().writing_until is None


def test_a_sha512_finish_checks_the_bytes_and_keeps_both_digests(world):
    alice, libs = world["alice"], world["libs"]
    upload = service.start_upload(alice, libs, FMT, "app")
    service.append_to_upload(alice, upload, [b"abc"])
    with pytest.raises(InvalidUpload, match="sha512"):
        service.complete_upload(alice, upload, hashlib.sha512(b"abd").hexdigest(), "sha512")
    upload = service.start_upload(alice, libs, FMT, "app")
    service.append_to_upload(alice, upload, [b"abc"])
    blob = service.complete_upload(alice, upload, hashlib.sha512(b"abc").hexdigest(), "sha512")
    assert (blob.sha256, blob.sha512) == (sha256(b"abc"), hashlib.sha512(b"abc").hexdigest())
    assert service.find_staged_blob(libs, FMT, "app", blob.sha512, "sha512") == blob
    with pytest.raises(InvalidUpload, match="sha256 or sha512"):
        service.store_staged_blob(alice, libs, FMT, "app", [b"x"], "0" * 96, "sha384")


def push_manifest(actor, repository, name: str, blobs: list[bytes], *, subject: str | None = None,
                  tag: str | None = None):
    return service.publish_manifest(
        actor, repository, fmt=FMT, name=name,
        draft=VersionDraft(version=f"sha256:{sha256(b''.join(blobs))}", metadata={}),
        uploads=[FileUpload(name="manifest.json", chunks=[b"{}"]),
                 *(FileUpload(name=f"sha256:{sha256(b)}", chunks=(), stored_sha256=sha256(b)) for b in blobs)],
        tag=tag, subjects=[subject] if subject else ())


def test_a_manifest_pushed_again_is_tagged_and_published_once(world):
    alice = world["alice"]
    service.store_staged_blob(alice, world["libs"], FMT, "app", [b"layer"], sha256(b"layer"))
    first = push_manifest(alice, world["libs"], "app", [b"layer"], tag="v1")
    again = push_manifest(alice, world["libs"], "app", [b"layer"], tag="v2")
    package = service.find_package("alice", FMT, "app")
    assert first == again
    assert service.package_tags(package) == {"v1": first.version, "v2": first.version}
    with pytest.raises(NameTaken):
        push_manifest(alice, world["other"], "app", [b"layer"])
    service.delete_package(alice, package)
    with pytest.raises(StillRestorable):
        push_manifest(alice, world["libs"], "app", [b"layer"])
