"""Tokens users act with. Only the sha256 of a secret is kept; the secret is shown once."""
from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from appliance.models.accounts import Account
from appliance.models.base import DecidesCredentials, utcnow
from appliance.models.repositories import Repository

READ_PACKAGES = "read:packages"
WRITE_PACKAGES = "write:packages"
DELETE_PACKAGES = "delete:packages"
REPO = "repo"
ADMIN_ORG_HOOK = "admin:org_hook"  # manage an organization's webhooks
SCOPES = (READ_PACKAGES, WRITE_PACKAGES, DELETE_PACKAGES, REPO, ADMIN_ORG_HOOK)


class Token(DecidesCredentials):
    user = ForeignKeyField(Account, backref="tokens", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    scopes = TextField(default="")  # comma-separated
    note = CharField(max_length=255, default="")
    # A job token acts only on this repository, whatever else its user could reach.
    repository = ForeignKeyField(Repository, null=True, on_delete="CASCADE")
    expires_at = DateTimeField(null=True)
    last_used_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)

    bookkeeping_columns = frozenset({"last_used_at"})

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)
