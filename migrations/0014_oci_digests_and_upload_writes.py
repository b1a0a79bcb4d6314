"""OCI: blobs looked up by their sha512 digest (indexed), subjects as long as a sha512 digest, and the hold
one request takes on a resumable upload while it appends (blob_upload.writing_until)."""
from peewee import CharField, DateTimeField, PostgresqlDatabase
from playhouse.migrate import SchemaMigrator, migrate


def upgrade(db) -> None:
    migrator = SchemaMigrator.from_database(db)
    operations = [
        migrator.add_index("blob", ("sha512",), False),
        migrator.add_column("blob_upload", "writing_until", DateTimeField(null=True)),
    ]
    if isinstance(db, PostgresqlDatabase):
        # `sha512:` and 128 hex digits; SQLite does not hold a VARCHAR to its length.
        operations.append(migrator.alter_column_type("version_subject", "subject", CharField(max_length=255)))
    migrate(*operations)
