"""Storage per owner and format (owner_storage), counted by the storage_usage job for the console, so its
pages read a few rows instead of adding up every file."""
from peewee import BigIntegerField, CharField, CompositeKey, DateTimeField, ForeignKeyField, Model


def upgrade(db) -> None:
    class Account(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class OwnerStorage(Model):
        owner = ForeignKeyField(Account, on_delete="CASCADE")
        format = CharField(max_length=16)
        packages = BigIntegerField(default=0)
        bytes = BigIntegerField(default=0)
        private_bytes = BigIntegerField(default=0)
        updated_at = DateTimeField()

        class Meta:
            database = db
            legacy_table_names = False
            primary_key = CompositeKey("owner", "format")
            indexes = ((("bytes",), False),)

    db.create_tables([OwnerStorage])
