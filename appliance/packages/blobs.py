"""Bytes in and out of the content-addressed blob store for the packages service: ingesting what a
client sends (hashed and bounded on the way in), the Blob rows that name stored bytes, and undoing a
failed write. Only the service's own modules use the helpers here; faces open files through `open_file`."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from flask import current_app
from peewee import fn

from appliance.models.packages import Blob, PackageFile
from appliance.models.uploads import StagedBlob
from appliance.packages.errors import (
    BlobCollected,
    BlobNotFound,
    InvalidUpload,
    TokenInUpload,
    UploadTooLarge,
)
from appliance.packages.token_scan import find_token
from appliance.storage.base import PathNotFound
from appliance.storage.blobs import BlobDigestMismatch, BlobStore, BlobTooLarge, StoredBlob


def blob_store() -> BlobStore:
    return current_app.extensions["appliance.blobs"]


def open_file(package_file: PackageFile, offset: int = 0) -> BinaryIO:
    return blob_store().open(package_file.blob.sha256, offset)


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


def store_uploads(uploads: list[FileUpload], max_size: int) -> list[StoredBlob]:
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
                refuse_tokens(upload.name, stored[-1].sha256)
            except BlobDigestMismatch as e:
                raise InvalidUpload(f"{upload.name} does not match its checksum: {e}") from None
            except BlobTooLarge as e:
                raise UploadTooLarge(f"{upload.name} is larger than this appliance accepts ({e.limit} bytes)") \
                    from None
    except BaseException:
        forget_blobs(stored)
        raise
    return stored


def refuse_tokens(name: str, sha256: str) -> None:
    """TokenInUpload when the stored bytes (an archive's members too) hold a token of this appliance."""
    try:
        stream = blob_store().open(sha256)
    except PathNotFound:
        return  # collected meanwhile: writing the rows refuses the upload (BlobCollected)
    try:
        finding = find_token(stream, name)
    finally:
        stream.close()
    if finding is not None:
        raise TokenInUpload(finding.path, finding.token_id)


def forget_blobs(stored: Iterable[StoredBlob]) -> None:
    """Remove blobs this request brought in and nothing references, after a failed write."""
    for blob in stored:
        if not blob.newly_stored:
            continue
        row = Blob.get_or_none(Blob.sha256 == blob.sha256)
        if row is None or Blob.select().where((Blob.id == row.id) & unreferenced(row.id)).exists():
            if row is not None:
                row.delete_instance()
            blob_store().delete(blob.sha256)


def blob_row(stored: StoredBlob) -> Blob:
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


def open_blob(blob: Blob, offset: int = 0) -> BinaryIO:
    return blob_store().open(blob.sha256, offset)


def unreferenced(blob_id):
    """Neither a file nor a staged blob (pushed before the version that will name it) refers to it."""
    return (~fn.EXISTS(PackageFile.select(PackageFile.id).where(PackageFile.blob == blob_id))
            & ~fn.EXISTS(StagedBlob.select(StagedBlob.id).where(StagedBlob.blob == blob_id)))


# ---- the store as a whole (appliance storage verify / migrate) -------------------------------------


def stored_blobs() -> Iterable[tuple[str, int]]:
    """(sha256, size) of every blob the database says the store holds, read in pages of the id."""
    last = 0
    while True:
        page = list(Blob.select(Blob.id, Blob.sha256, Blob.size).where(Blob.id > last).order_by(Blob.id)
                    .limit(1000).tuples())
        if not page:
            return
        yield from ((sha256, size) for _, sha256, size in page)
        last = page[-1][0]


def blob_users(sha256: str, limit: int = 5) -> list[str]:
    """Where a blob is used, for a person reading a problem: `FORMAT OWNER/NAME VERSION FILE` per file,
    `FORMAT OWNER/NAME (pushed layer)` per staged blob, at most `limit` of them."""
    from appliance.models.accounts import Account
    from appliance.models.packages import Package, PackageVersion
    from appliance.models.repositories import Repository

    files = (PackageFile.select(Package.format, Account.login, Package.name, PackageVersion.version,
                                PackageFile.name)
             .join(Blob).switch(PackageFile).join(PackageVersion).join(Package).join(Account,
                                                                                   on=Package.owner == Account.id)
             .where(Blob.sha256 == sha256).limit(limit).tuples())
    users = [f"{fmt} {owner}/{name} {version} {filename}" for fmt, owner, name, version, filename in files]
    staged = (StagedBlob.select(StagedBlob.format, Account.login, Repository.name, StagedBlob.package_name)
              .join(Blob).switch(StagedBlob).join(Repository).join(Account, on=Repository.owner == Account.id)
              .where(Blob.sha256 == sha256).limit(limit).tuples())
    users += [f"{fmt} {owner}/{name} (pushed layer of {image})" for fmt, owner, name, image in staged]
    return users[:limit]
