"""Cloud billing: each owner's monthly transfer of private packages (owner_transfer) and the spending limit
set for an owner in the console (spending_limit)."""
from peewee import BigIntegerField, CompositeKey, DateField, DateTimeField, ForeignKeyField, Model


def upgrade(db) -> None:
    class Account(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class OwnerTransfer(Model):
        owner = ForeignKeyField(Account, on_delete="CASCADE")
        month = DateField()
        bytes = BigIntegerField(default=0)

        class Meta:
            database = db
            legacy_table_names = False
            primary_key = CompositeKey("owner", "month")

    class SpendingLimit(Model):
        owner = ForeignKeyField(Account, primary_key=True, on_delete="CASCADE")
        cents = BigIntegerField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            legacy_table_names = False

    db.create_tables([OwnerTransfer, SpendingLimit])
