"""Blobs that come before their version (OCI layers): resumable uploads whose state is in the database
and bytes on storage, so any worker or node can continue them, and blobs staged in a package until a
version refers to them."""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from contextlib import contextmanager

from peewee import fn

from appliance.auth.permissions import Action, Actor
from appliance.db import database
from appliance.models.base import utcnow
from appliance.models.packages import Blob, Package, PackageFile, PackageVersion
from appliance.models.repositories import Repository
from appliance.models.uploads import BlobUpload, StagedBlob
from appliance.packages.access import check_access, check_format_enabled, is_allowed
from appliance.packages.blobs import (
    FileUpload,
    blob_row,
    blob_store,
    forget_blobs,
    refuse_tokens,
    store_uploads,
)
from appliance.packages.errors import (
    BlobNotFound,
    InvalidUpload,
    UploadNotFound,
    UploadOutOfOrder,
    UploadTooLarge,
)
from appliance.packages.events import audit
from appliance.packages.publishing import check_package_repository
from appliance.settings import current_settings
from appliance.storage.base import PathNotFound
from appliance.storage.blobs import BlobDigestMismatch

# How long an upload nobody continues, and a staged blob no version refers to, are kept.
UPLOAD_EXPIRY = dt.timedelta(days=1)
STAGED_BLOB_EXPIRY = dt.timedelta(days=1)
# One request at a time appends to an upload: it holds the upload's row for this long, renewed (every
# third of it) while its bytes keep coming, so that a worker that died mid-append does not lock the upload
# for good. Short, because a client whose node died resumes on another only once the lease has lapsed.
WRITE_LEASE = dt.timedelta(seconds=15)
# The digests blobs are known by (columns of Blob).
BLOB_ALGORITHMS = ("sha256", "sha512")


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
    size. One request appends at a time, decided in the database (so across workers and nodes): a
    second one while the first is still sending, or one whose `start` is no longer the upload's size,
    is UploadOutOfOrder and appends nothing. Hashed on the way in: when this request brings the whole
    upload from its first byte, its sha256 is kept so that finishing it needs no second read. Past
    `max_size` (default: the appliance's upload limit), or when `chunks` raise UploadTooLarge, the
    upload is dropped; a request cut off keeps what arrived."""
    check_access(actor, upload.repository, Action.WRITE)
    limit = max_size if max_size is not None else current_settings()["max_upload_bytes"]
    with _writing(upload) as lease:
        size = upload_size(upload)
        if start is not None and start != size:
            raise UploadOutOfOrder(f"this chunk starts at byte {start}, but the upload holds {size} bytes: "
                                   f"send the chunk that starts at {size}")
        writer = blob_store().storage.writer(upload.path, append=True)
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
                lease.renew()
        except UploadTooLarge:
            writer.cancel()
            _drop_upload(upload)
            raise
        finally:
            writer.commit()
            if wrote:
                # Kept even for a request cut off midway: its bytes are there, but not all of the blob.
                lease.finish(size=writer.size, sha256=hasher.hexdigest() if hasher else None)
    return writer.size


class _Lease:
    """The upload's row held by this request (BlobUpload.writing_until in the future)."""

    def __init__(self, upload: BlobUpload):
        self.upload = upload
        self.renewed_at = utcnow()
        self.finished: dict = {}

    def renew(self) -> None:
        now = utcnow()
        if now - self.renewed_at > WRITE_LEASE / 3:
            BlobUpload.update(writing_until=now + WRITE_LEASE).where(BlobUpload.id == self.upload.id).execute()
            self.renewed_at = now

    def finish(self, **values) -> None:
        self.finished = {**values, "updated_at": utcnow()}


@contextmanager
def _writing(upload: BlobUpload):
    """Hold the upload for one request's write, or UploadOutOfOrder when another request holds it."""
    now = utcnow()
    claimed = (BlobUpload.update(writing_until=now + WRITE_LEASE)
               .where((BlobUpload.id == upload.id)
                      & (BlobUpload.writing_until.is_null() | (BlobUpload.writing_until < now)))
               .execute())
    if not claimed:
        if BlobUpload.get_or_none(BlobUpload.id == upload.id) is None:
            raise UploadNotFound("the upload was finished or cancelled by another request")
        raise UploadOutOfOrder("another request is sending bytes to this upload at this offset: ask for the "
                               "upload's status and send what it does not hold")
    lease = _Lease(upload)
    try:
        yield lease
    finally:
        BlobUpload.update(writing_until=None, **lease.finished).where(BlobUpload.id == upload.id).execute()


def complete_upload(actor: Actor, upload: BlobUpload, digest: str, algorithm: str = "sha256") -> Blob:
    """Finish the upload as the blob whose `algorithm` digest is `digest` (verified; sha256 or sha512)
    and stage it in its package: the upload file is moved into the content-addressed store, or dropped
    when the store has the content already. A digest that does not match drops the upload and raises
    InvalidUpload: nothing is stored. No request appends while it finishes (the same hold as appending)."""
    check_access(actor, upload.repository, Action.WRITE)
    _check_algorithm(algorithm)
    with _writing(upload):
        upload = BlobUpload.get_or_none(BlobUpload.id == upload.id)
        if upload is None:
            raise UploadNotFound("the upload was finished or cancelled by another request")
        hashed = (upload.sha256, upload.size) if upload.sha256 and upload.size == upload_size(upload) else None
        try:
            stored = blob_store().adopt(upload.path, {algorithm: digest}, hashed=hashed)
        except PathNotFound:
            raise UploadNotFound("the upload was finished or cancelled by another request") from None
        except BlobDigestMismatch as e:
            upload.delete_instance()
            raise InvalidUpload(f"the upload's {e.algorithm} is {e.actual}, not {e.expected}: nothing was "
                                f"stored") from None
        try:
            refuse_tokens(f"the layer {algorithm}:{digest}", stored.sha256)
            with database.atomic():
                blob = blob_row(stored)
                _stage(upload.repository, upload.format, upload.package_name, blob)
                upload.delete_instance()
        except BaseException:
            # The bytes left the upload for the store: without a row nothing would ever collect them.
            forget_blobs([stored])
            _drop_upload(upload)
            raise
    return blob


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in BLOB_ALGORITHMS:
        raise InvalidUpload(f"blobs are known by {' or '.join(BLOB_ALGORITHMS)}, not {algorithm}")


def cancel_upload(actor: Actor, upload: BlobUpload) -> None:
    check_access(actor, upload.repository, Action.WRITE)
    _drop_upload(upload)


def _drop_upload(upload: BlobUpload) -> None:
    blob_store().storage.delete(upload.path)
    BlobUpload.delete().where(BlobUpload.id == upload.id).execute()


def store_staged_blob(actor: Actor, repository: Repository, fmt: str, name: str, chunks: Iterable[bytes],
                      digest: str, algorithm: str = "sha256") -> Blob:
    """Store a blob sent whole (verified against its `algorithm` digest) and stage it in the package `name`."""
    check_format_enabled(fmt)
    check_access(actor, repository, Action.WRITE)
    check_package_repository(actor, repository, fmt, name)
    _check_algorithm(algorithm)
    upload = FileUpload(name=f"the layer {algorithm}:{digest}", chunks=chunks, expected_digests={algorithm: digest})
    stored = store_uploads([upload], current_settings()["max_upload_bytes"])
    try:
        with database.atomic():
            blob = blob_row(stored[0])
            _stage(repository, fmt, name, blob)
    except BaseException:
        forget_blobs(stored)
        raise
    return blob


def _stage(repository: Repository, fmt: str, name: str, blob: Blob) -> None:
    StagedBlob.insert(repository=repository.id, format=fmt, package_name=name.lower(), blob=blob.id,
                      created_at=utcnow()).on_conflict_ignore().execute()


def find_staged_blob(repository: Repository, fmt: str, name: str, digest: str,
                     algorithm: str = "sha256") -> Blob | None:
    """The blob whose `algorithm` digest is `digest` if it is staged in the package `name` of `repository`
    (pushed or mounted there, alone or with a version). A blob is known by sha512 once it was sent or
    checked with that digest."""
    if algorithm not in BLOB_ALGORITHMS:
        return None
    return (Blob.select().join(StagedBlob)
            .where((StagedBlob.repository == repository.id) & (StagedBlob.format == fmt)
                   & (StagedBlob.package_name == name.lower()) & (getattr(Blob, algorithm) == digest))
            .first())


def mount_blob(actor: Actor, source: Repository | None, source_name: str, repository: Repository, fmt: str,
               name: str, digest: str, algorithm: str = "sha256") -> Blob | None:
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
    blob = find_staged_blob(source, fmt, source_name, digest, algorithm)
    if blob is not None:
        _stage(repository, fmt, name, blob)
    return blob


def unstage_blob(actor: Actor, repository: Repository, fmt: str, name: str, digest: str,
                 algorithm: str = "sha256") -> None:
    """Remove a blob from the package `name` (needs delete rights); the bytes stay for whatever else
    refers to them."""
    check_access(actor, repository, Action.DELETE)
    blob = find_staged_blob(repository, fmt, name, digest, algorithm)
    if blob is None:
        raise BlobNotFound(f"{algorithm}:{digest} is not in {name}")
    StagedBlob.delete().where((StagedBlob.repository == repository.id) & (StagedBlob.format == fmt)
                              & (StagedBlob.package_name == name.lower()) & (StagedBlob.blob == blob.id)).execute()
    audit(actor, "package_blob.delete", f"{fmt}:{repository.owner.login}/{name}", **{algorithm: digest})


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
