"""Cloud billing's rows: what each owner's private packages sent to clients per month, and the spending
limit the console set for an owner. Both live in the database, so every worker and node meters into and
reads the same figures."""
from __future__ import annotations

from peewee import BigIntegerField, CompositeKey, DateField, DateTimeField, ForeignKeyField

from appliance.models.accounts import Account
from appliance.models.base import BaseModel


class OwnerTransfer(BaseModel):
    """Bytes of the owner's private packages served by downloads in the month starting on `month`
    (the first day, UTC); each download adds to its row in one statement."""

    owner = ForeignKeyField(Account, on_delete="CASCADE")
    month = DateField()
    bytes = BigIntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("owner", "month")


class SpendingLimit(BaseModel):
    """An owner's monthly spending limit in cents, set in the console or the CLI; owners without a row have
    the `billing.default_spending_limit_cents` setting."""

    owner = ForeignKeyField(Account, primary_key=True, on_delete="CASCADE")
    cents = BigIntegerField()
    updated_at = DateTimeField()
