"""Resumable blob uploads, blobs staged in a package before their version, and version subjects (OCI)."""
from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField, Model


def upgrade(db) -> None:
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    # Stand-ins for tables earlier migrations made, so foreign keys point at them.
    class Account(Base):
        pass

    class Repository(Base):
        pass

    class Blob(Base):
        pass

    class PackageVersion(Base):
        pass

    class BlobUpload(Base):
        uuid = CharField(max_length=64, unique=True)
        repository = ForeignKeyField(Repository, on_delete="CASCADE")
        format = CharField(max_length=16)
        package_name = CharField(max_length=255)
        user = ForeignKeyField(Account, null=True, on_delete="CASCADE")
        path = CharField(max_length=255)
        size = BigIntegerField(default=0)
        sha256 = CharField(max_length=64, null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField(index=True)

    class StagedBlob(Base):
        repository = ForeignKeyField(Repository, on_delete="CASCADE")
        format = CharField(max_length=16)
        package_name = CharField(max_length=255)
        blob = ForeignKeyField(Blob, on_delete="CASCADE")
        created_at = DateTimeField(index=True)

        class Meta:
            indexes = ((("repository", "format", "package_name", "blob"), True),)

    class VersionSubject(Base):
        version = ForeignKeyField(PackageVersion, on_delete="CASCADE")
        subject = CharField(max_length=128, index=True)

    db.create_tables([BlobUpload, StagedBlob, VersionSubject])
