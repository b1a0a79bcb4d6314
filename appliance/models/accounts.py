"""Users and organizations: the owners of repositories."""
from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from appliance.models.base import BaseModel, DecidesCredentials, utcnow

USER = "user"
ORGANIZATION = "organization"


class Account(DecidesCredentials):
    """An owner of repositories: a user (who can sign in) or an organization (which cannot)."""

    login = CharField(max_length=64)
    lower_login = CharField(max_length=64, unique=True)
    kind = CharField(max_length=16, default=USER)
    email = CharField(max_length=254, null=True)
    password_hash = CharField(max_length=255, null=True)
    site_admin = BooleanField(default=False)
    suspended = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    # Part of every browser session; bumping it (sign out everywhere, suspension, a new password) ends
    # the sessions of every worker at once, as each checks it against the database.
    session_epoch = IntegerField(default=0)
    name = CharField(max_length=255, null=True)  # the person's full name, as a directory gives it
    # Where the account signs in: None for built-in accounts (a password here), "ldap" for the directory's,
    # whose entry is `directory_dn` (the sync suspends the account when the entry is gone).
    identity_source = CharField(max_length=16, null=True)
    directory_dn = CharField(max_length=1024, null=True)

    @property
    def is_organization(self) -> bool:
        return self.kind == ORGANIZATION


class OrganizationMember(DecidesCredentials):
    organization = ForeignKeyField(Account, backref="memberships", on_delete="CASCADE")
    user = ForeignKeyField(Account, backref="organization_memberships", on_delete="CASCADE")
    role = CharField(max_length=16, default="member")  # owner | member
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "user"), True),)


class SignInFailure(BaseModel):
    """A wrong password for a login: the last minute's rows slow that login down, on every worker."""

    lower_login = CharField(max_length=64)
    remote_addr = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("lower_login", "created_at"), False),)
