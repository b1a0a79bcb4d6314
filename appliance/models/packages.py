"""Packages, their versions and files, and the content-addressed blobs files point at."""
from __future__ import annotations

from peewee import (
    BigIntegerField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from appliance.models.accounts import Account
from appliance.models.base import BaseModel, utcnow
from appliance.models.repositories import Repository


class Blob(BaseModel):
    """Bytes stored once by sha256, shared by every file of any format with the same content."""

    sha256 = CharField(max_length=64, unique=True)
    size = BigIntegerField()
    sha1 = CharField(max_length=40, null=True)
    md5 = CharField(max_length=32, null=True)
    sha512 = CharField(max_length=128, null=True, index=True)  # OCI blobs are also fetched by sha512
    created_at = DateTimeField(default=utcnow)


class Package(BaseModel):
    owner = ForeignKeyField(Account, backref="packages", on_delete="CASCADE")
    repository = ForeignKeyField(Repository, backref="packages", on_delete="CASCADE")
    format = CharField(max_length=16)
    name = CharField(max_length=255)
    lower_name = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow, index=True)  # lists are newest change first (migration 0011)
    deleted_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("owner", "format", "lower_name"), True),)


class PackageVersion(BaseModel):
    package = ForeignKeyField(Package, backref="versions", on_delete="CASCADE")
    version = CharField(max_length=255)
    lower_version = CharField(max_length=255)
    metadata = TextField(default="{}")  # format-specific JSON (an npm manifest, a pom's fields, ...)
    summary = TextField(default="")
    readme = TextField(null=True)
    license = CharField(max_length=255, null=True)
    published_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    deleted_at = DateTimeField(null=True)
    # What registry searches match besides the name, lowercased (`descriptors.search_fields`).
    search_title = CharField(max_length=255, default="")
    search_description = TextField(default="")
    search_keywords = TextField(default="")  # " word word ", so a whole keyword matches '% word %'
    search_authors = TextField(default="")
    # Downloads over all days: download_count's rows added up, kept by `record_download` in the same
    # transaction (migration 0017), so pages and indexes read one column instead of summing days.
    downloads = BigIntegerField(default=0)

    class Meta:
        # Newest first a page at a time, oldest first for documents (migration 0018).
        indexes = ((("package", "lower_version"), True), (("package", "created_at", "id"), False))


class PackageFile(BaseModel):
    version = ForeignKeyField(PackageVersion, backref="files", on_delete="CASCADE")
    name = CharField(max_length=255)
    lower_name = CharField(max_length=255)
    blob = ForeignKeyField(Blob, backref="files", on_delete="RESTRICT")
    content_type = CharField(max_length=255, default="application/octet-stream")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("version", "lower_name"), True),)


class PackageTag(BaseModel):
    """A movable name for one version: npm dist-tags, Docker tags."""

    package = ForeignKeyField(Package, backref="tags", on_delete="CASCADE")
    name = CharField(max_length=255)
    version = ForeignKeyField(PackageVersion, backref="tags", on_delete="CASCADE")
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("package", "name"), True),)


class DownloadCount(BaseModel):
    version = ForeignKeyField(PackageVersion, backref="download_counts", on_delete="CASCADE")
    day = DateField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("version", "day"), True),)
