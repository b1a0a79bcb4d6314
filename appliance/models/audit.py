"""The audit log: every write and delete, who did it and from where."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from appliance.models.accounts import Account
from appliance.models.base import BaseModel, utcnow


class AuditEvent(BaseModel):
    actor = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    actor_login = CharField(max_length=64, default="")  # kept when the account is gone
    action = CharField(max_length=64)  # package.publish, package_version.delete, token.create, ...
    target = CharField(max_length=512)
    data = TextField(default="{}")
    remote_addr = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow, index=True)
