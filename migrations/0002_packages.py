"""Packages, versions, files, content-addressed blobs, tags, download counts and the audit log."""
from peewee import (
    BigIntegerField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def upgrade(db) -> None:
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    # Stand-ins for tables 0001 made, so foreign keys point at them.
    class Account(Base):
        pass

    class Repository(Base):
        pass

    class Blob(Base):
        sha256 = CharField(max_length=64, unique=True)
        size = BigIntegerField()
        sha1 = CharField(max_length=40, null=True)
        md5 = CharField(max_length=32, null=True)
        sha512 = CharField(max_length=128, null=True)
        created_at = DateTimeField()

    class Package(Base):
        owner = ForeignKeyField(Account, on_delete="CASCADE")
        repository = ForeignKeyField(Repository, on_delete="CASCADE")
        format = CharField(max_length=16)
        name = CharField(max_length=255)
        lower_name = CharField(max_length=255)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        deleted_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("owner", "format", "lower_name"), True),)

    class PackageVersion(Base):
        package = ForeignKeyField(Package, on_delete="CASCADE")
        version = CharField(max_length=255)
        lower_version = CharField(max_length=255)
        metadata = TextField(default="{}")
        summary = TextField(default="")
        readme = TextField(null=True)
        license = CharField(max_length=255, null=True)
        published_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
        created_at = DateTimeField()
        updated_at = DateTimeField()
        deleted_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("package", "lower_version"), True),)

    class PackageFile(Base):
        version = ForeignKeyField(PackageVersion, on_delete="CASCADE")
        name = CharField(max_length=255)
        lower_name = CharField(max_length=255)
        blob = ForeignKeyField(Blob, on_delete="RESTRICT")
        content_type = CharField(max_length=255, default="application/octet-stream")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("version", "lower_name"), True),)

    class PackageTag(Base):
        package = ForeignKeyField(Package, on_delete="CASCADE")
        name = CharField(max_length=255)
        version = ForeignKeyField(PackageVersion, on_delete="CASCADE")
        updated_at = DateTimeField()

        class Meta:
            indexes = ((("package", "name"), True),)

    class DownloadCount(Base):
        version = ForeignKeyField(PackageVersion, on_delete="CASCADE")
        day = DateField()
        count = IntegerField(default=0)

        class Meta:
            indexes = ((("version", "day"), True),)

    class AuditEvent(Base):
        actor = ForeignKeyField(Account, null=True, on_delete="SET NULL")
        actor_login = CharField(max_length=64, default="")
        action = CharField(max_length=64)
        target = CharField(max_length=512)
        data = TextField(default="{}")
        remote_addr = CharField(max_length=64, default="")
        created_at = DateTimeField(index=True)

    db.create_tables([Blob, Package, PackageVersion, PackageFile, PackageTag, DownloadCount, AuditEvent])
