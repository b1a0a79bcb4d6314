"""Blobs that arrive before the version that refers to them (OCI layers pushed before their manifest),
the resumable upload sessions they come through, and what versions say they refer to (OCI subjects)."""
from __future__ import annotations

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField

from appliance.models.accounts import Account
from appliance.models.base import BaseModel, utcnow
from appliance.models.packages import Blob, PackageVersion
from appliance.models.repositories import Repository


class BlobUpload(BaseModel):
    """A resumable upload: its bytes so far are on storage at `path`, so any worker or node can go on
    with it, and it survives a restart. A hash state cannot be saved, so `sha256` is kept only when one
    request hashed the whole upload from its first byte; otherwise the upload is read again to finish."""

    uuid = CharField(max_length=64, unique=True)
    repository = ForeignKeyField(Repository, on_delete="CASCADE")
    format = CharField(max_length=16)
    package_name = CharField(max_length=255)  # lowercase: the package the blob is staged for
    user = ForeignKeyField(Account, null=True, on_delete="CASCADE")
    path = CharField(max_length=255)
    size = BigIntegerField(default=0)
    sha256 = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow, index=True)
    # Set while one request appends (or finishes): another one meanwhile is refused, across workers and
    # nodes; a time, not a flag, so that a worker that died mid-append holds it for a minute at most.
    writing_until = DateTimeField(null=True)


class StagedBlob(BaseModel):
    """A blob pushed to a package name of a repository before (or besides) any version referring to it:
    readable there and mountable from there, until a cleanup finds no version of the package uses it."""

    repository = ForeignKeyField(Repository, on_delete="CASCADE")
    format = CharField(max_length=16)
    package_name = CharField(max_length=255)  # lowercase
    blob = ForeignKeyField(Blob, on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("repository", "format", "package_name", "blob"), True),)


class VersionSubject(BaseModel):
    """A version that says it is about another artifact (an OCI manifest's `subject`), by digest: the
    referrers API lists them, whether or not the subject is there yet."""

    version = ForeignKeyField(PackageVersion, on_delete="CASCADE")
    subject = CharField(max_length=255, index=True)  # a digest: sha512's is 135 characters
