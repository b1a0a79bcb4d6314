"""Repositories: the permission containers every package is linked to (the appliance hosts no git)."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from appliance.models.accounts import Account
from appliance.models.base import BaseModel, DecidesCredentials, utcnow

PUBLIC = "public"
PRIVATE = "private"
INTERNAL = "internal"
VISIBILITIES = (PUBLIC, PRIVATE, INTERNAL)

READ = "read"
WRITE = "write"
ADMIN = "admin"
ROLES = (READ, WRITE, ADMIN)


class Repository(BaseModel):
    owner = ForeignKeyField(Account, backref="repositories", on_delete="CASCADE")
    name = CharField(max_length=100)
    lower_name = CharField(max_length=100)
    visibility = CharField(max_length=16, default=PUBLIC)
    description = TextField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("owner", "lower_name"), True),)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


class Collaborator(DecidesCredentials):
    repository = ForeignKeyField(Repository, backref="collaborators", on_delete="CASCADE")
    user = ForeignKeyField(Account, backref="collaborations", on_delete="CASCADE")
    role = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("repository", "user"), True),)
