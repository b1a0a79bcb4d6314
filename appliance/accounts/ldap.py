"""LDAP: an identity source beside the built-in accounts, and the sync that keeps its accounts current.

Signing in searches the directory with the appliance's own bind DN for the one entry matching
`user_filter` (the login escaped before it is put in), then binds as that entry with the password given:
the directory, never the appliance, checks the password. The account is made on the first sign-in from
the entry's attributes. The `ldap_sync` job updates names and e-mails, site administration (the admin
group) and organization membership (mapped groups), and suspends accounts whose entry is gone: their
tokens stop working at once.

A directory that is down, or slower than `timeout`, makes the source unavailable (DirectoryUnavailable,
a clear message), never a 500; built-in accounts, the break-glass site administrator among them, sign
in without asking it.
"""
from __future__ import annotations

import math
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Flask
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPStartTLSError
from ldap3.utils.conv import escape_filter_chars

from appliance.accounts.identity import (
    IdentityUnavailable,
    register_identity_source,
    unregister_identity_source,
)
from appliance.accounts.service import LOGIN_RE, create_user, find_account
from appliance.db import database
from appliance.models.accounts import Account, OrganizationMember
from appliance.settings import LdapConfig

LDAP = "ldap"
EXTENSION = "appliance.ldap"
# Group entries name their members one of these ways: groupOfNames, groupOfUniqueNames, posixGroup.
MEMBER_ATTRIBUTES = ("member", "uniqueMember", "memberUid")


class DirectoryUnavailable(IdentityUnavailable):
    """The directory cannot be asked now (down, slow, TLS or the appliance's own bind refused)."""


class DirectoryError(Exception):
    """The directory answered, but not in a way the appliance can use; the message says what to fix."""


@dataclass(frozen=True)
class DirectoryEntry:
    dn: str
    login: str
    name: str | None
    email: str | None


@dataclass
class SyncReport:
    users: int = 0
    updated: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    admins_granted: list[str] = field(default_factory=list)
    admins_revoked: list[str] = field(default_factory=list)
    members_added: list[str] = field(default_factory=list)
    members_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.users} directory users"]
        for label, names in (("updated", self.updated), ("suspended", self.suspended),
                             ("made site admin", self.admins_granted), ("no longer site admin", self.admins_revoked),
                             ("added to organizations", self.members_added),
                             ("removed from organizations", self.members_removed)):
            parts.append(f"{label}: {', '.join(names) if names else 'none'}")
        return "; ".join(parts + self.warnings)


def _first(entry, attribute: str) -> str | None:
    values = entry["attributes"].get(attribute) if attribute else None
    if isinstance(values, list):
        values = values[0] if values else None
    return str(values) if values not in (None, "") else None


def _normal_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.lower().split(","))


class LdapDirectory:
    """The `[ldap]` directory as an identity source (`authenticate`) and what the CLI and job ask of it."""

    name = LDAP

    def __init__(self, config: LdapConfig):
        self.config = config

    # ---- connections ----

    def _server(self, uri: str) -> Server:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.config.ca_file,
                  version=ssl.PROTOCOL_TLS_CLIENT)
        return Server(uri, use_ssl=uri.startswith("ldaps://"), tls=tls, get_info=NONE,
                      connect_timeout=self.config.timeout)

    def _open(self, dn: str | None, password: str | None) -> tuple[Connection, bool]:
        """A connection to the first server of `uri` that answers, bound as `dn` (anonymous when None):
        (connection, whether the bind succeeded). DirectoryUnavailable when no server answers in time."""
        problems = []
        for uri in self.config.uris:
            # ldap3 sets the receive timeout with SO_RCVTIMEO, in whole seconds.
            connection = Connection(self._server(uri), user=dn, password=password, auto_bind=False,
                                    receive_timeout=max(1, math.ceil(self.config.timeout)), read_only=True,
                                    raise_exceptions=False)
            try:
                connection.open()
                if self.config.start_tls and not uri.startswith("ldaps://"):
                    connection.start_tls()
                bound = connection.bind() if dn else True
                return connection, bound
            except LDAPStartTLSError as e:
                problems.append(f"{uri}: StartTLS failed ({e})")
            except LDAPException as e:
                problems.append(f"{uri}: {e or type(e).__name__}")
            connection.unbind()
        raise DirectoryUnavailable(f"the directory does not answer ({'; '.join(problems)})")

    def _service(self) -> Connection:
        """A connection bound with the appliance's bind DN, for searches."""
        connection, bound = self._open(self.config.bind_dn, self.config.bind_password)
        if not bound:
            reason = connection.result.get("description", "refused")
            connection.unbind()
            raise DirectoryUnavailable(f"the directory refused the appliance's bind DN {self.config.bind_dn} "
                                       f"({reason}): check bind_dn and bind_password in [ldap]")
        return connection

    def _search(self, connection: Connection, base: str, search_filter: str, attributes: list[str], *,
                scope=SUBTREE) -> list[dict]:
        try:
            if scope == SUBTREE:
                found = connection.extend.standard.paged_search(base, search_filter, search_scope=scope,
                                                                attributes=attributes, paged_size=500,
                                                                generator=False)
            else:
                connection.search(base, search_filter, search_scope=scope, attributes=attributes)
                found = connection.response
        except LDAPException as e:
            raise DirectoryUnavailable(f"the directory did not answer a search in time ({e})") from e
        result = connection.result or {}
        if result.get("result") not in (0, None, 32):  # 32: no such object (a base that is gone)
            raise DirectoryError(f"searching {base} failed: {result.get('description')} "
                                 f"{result.get('message') or ''}".strip())
        return [entry for entry in found or [] if entry.get("type") == "searchResEntry"]

    # ---- users ----

    def _attributes(self) -> list[str]:
        config = self.config
        return [config.login_attribute, config.name_attribute, config.email_attribute]

    def _entry(self, found: dict) -> DirectoryEntry | None:
        login = _first(found, self.config.login_attribute)
        if login is None:
            return None
        return DirectoryEntry(dn=found["dn"], login=login, name=_first(found, self.config.name_attribute),
                              email=_first(found, self.config.email_attribute))

    def _user_filter(self, login: str) -> str:
        return self.config.user_filter.replace("{login}", escape_filter_chars(login))

    def find(self, login: str, connection: Connection | None = None) -> DirectoryEntry | None:
        """The one entry whose login this is; None when there is none, or more than one."""
        own = connection is None
        connection = connection or self._service()
        try:
            found = self._search(connection, self.config.user_base, self._user_filter(login), self._attributes())
        finally:
            if own:
                connection.unbind()
        entries = [entry for entry in map(self._entry, found) if entry is not None]
        if len(entries) != 1 or entries[0].login.lower() != login.lower():
            return None
        return entries[0]

    def all_users(self, connection: Connection) -> list[DirectoryEntry]:
        # The filter with every login: `(uid={login})` becomes `(uid=*)`, a presence test.
        search_filter = self.config.user_filter.replace("{login}", "*")
        found = self._search(connection, self.config.user_base, search_filter, self._attributes())
        return [entry for entry in map(self._entry, found) if entry is not None]

    def group_members(self, connection: Connection, group_dn: str) -> tuple[set[str], set[str]] | None:
        """(member DNs, normalised; member logins, lowercased) of a group, or None when it is not there."""
        found = self._search(connection, group_dn, "(objectClass=*)", list(MEMBER_ATTRIBUTES), scope=BASE)
        if not found:
            return None
        attributes = found[0]["attributes"]
        dns = {_normal_dn(str(v)) for name in ("member", "uniqueMember") for v in attributes.get(name) or []}
        logins = {str(v).lower() for v in attributes.get("memberUid") or []}
        return dns, logins

    def _groups(self, connection: Connection) -> Iterator[tuple[str, str | None, tuple[set[str], set[str]] | None]]:
        """(group DN, organization or None for the admin group, members) of every configured group."""
        if self.config.admin_group:
            yield self.config.admin_group, None, self.group_members(connection, self.config.admin_group)
        for group, organization in self.config.organizations.items():
            yield group, organization, self.group_members(connection, group)

    # ---- the identity source ----

    def authenticate(self, login: str, password: str) -> Account | None:
        """Search, then bind as the entry found with `password`; the account (made on the first sign-in,
        brought up to date on each) when the directory accepts it, else None."""
        if not password or not LOGIN_RE.match(login):
            return None  # an empty password would be an anonymous bind, which "succeeds"
        connection = self._service()
        try:
            entry = self.find(login, connection)
            if entry is None:
                return None
            user, bound = self._open(entry.dn, password)
            user.unbind()
            if not bound:
                return None
            groups = list(self._groups(connection))
        finally:
            connection.unbind()
        account = self.account_for(entry)
        if account is None:
            return None
        _apply_groups(account, entry, groups, SyncReport())
        return account

    def account_for(self, entry: DirectoryEntry, account: Account | None = None) -> Account | None:
        """The directory user's account (`account` when the caller has it): made on first use, its name,
        e-mail and DN brought up to date. None when a built-in account with a password holds the login
        (the directory cannot take it over)."""
        if not LOGIN_RE.match(entry.login):
            return None
        account = account or find_account(entry.login)
        if account is None:
            account = create_user(entry.login, email=entry.email)
        elif account.is_organization or (account.identity_source != LDAP and account.password_hash):
            return None
        changes = {"identity_source": LDAP, "directory_dn": entry.dn, "name": entry.name, "email": entry.email}
        if any(getattr(account, key) != value for key, value in changes.items()):
            Account.update(**changes).where(Account.id == account.id).execute()
            for key, value in changes.items():
                setattr(account, key, value)
        return account

    def provision(self, login: str) -> Account | None:
        """The account of a directory user who may not have signed in yet (`appliance tokens create`)."""
        connection = self._service()
        try:
            entry = self.find(login, connection)
            groups = list(self._groups(connection)) if entry is not None else []
        finally:
            connection.unbind()
        if entry is None:
            return None
        account = self.account_for(entry)
        if account is not None:
            _apply_groups(account, entry, groups, SyncReport())
        return account

    # ---- the sync job and `ldap check` ----

    def sync(self) -> SyncReport:
        """Bring every LDAP account in line with the directory (see the module's docstring)."""
        connection = self._service()
        try:
            entries = {entry.login.lower(): entry for entry in self.all_users(connection)}
            groups = list(self._groups(connection))
        finally:
            connection.unbind()
        report = SyncReport(users=len(entries))
        accounts = list(Account.select().where(Account.identity_source == LDAP))
        if accounts and not entries:
            raise DirectoryError(f"the directory returned no users under {self.config.user_base}: suspending "
                                 f"all {len(accounts)} LDAP accounts is not what a sync is for; check user_base "
                                 "and user_filter")
        for group, organization, members in groups:
            if members is None:
                report.warnings.append(f"group {group} is not in the directory")
            elif organization is not None and find_account(organization) is None:
                report.warnings.append(f"organization {organization} (mapped from {group}) does not exist")
        with database.atomic():
            for account in accounts:
                entry = entries.get(account.lower_login)
                if entry is None:
                    if not account.suspended:
                        Account.update(suspended=True).where(Account.id == account.id).execute()
                        report.suspended.append(account.login)
                    continue
                before = (account.name, account.email, account.directory_dn)
                self.account_for(entry, account)
                if (account.name, account.email, account.directory_dn) != before:
                    report.updated.append(account.login)
                _apply_groups(account, entry, groups, report)
        return report

    def check(self) -> list[str]:
        """What `appliance ldap check` says: the bind, the users found, the groups; raises when the bind
        or a search fails."""
        connection = self._service()
        try:
            lines = [(f"bound to {connection.server.host}:{connection.server.port} as "
                     f"{self.config.bind_dn or 'anonymous'}")]
            users = self.all_users(connection)
            shown = ", ".join(sorted(entry.login for entry in users)[:10])
            lines.append(f"{len(users)} users under {self.config.user_base} match {self.config.user_filter}"
                         + (f": {shown}{', ...' if len(users) > 10 else ''}" if users else ""))
            for group, organization, members in self._groups(connection):
                role = f"organization {organization}" if organization else "site administrators"
                if members is None:
                    lines.append(f"warning: group {group} ({role}) is not in the directory")
                else:
                    lines.append(f"group {group} ({role}): {len(members[0]) + len(members[1])} members")
        finally:
            connection.unbind()
        return lines


def _apply_groups(account: Account, entry: DirectoryEntry, groups, report: SyncReport) -> None:
    """Site administration from the admin group, membership of mapped organizations from theirs."""
    def member(members) -> bool:
        return members is not None and (_normal_dn(entry.dn) in members[0] or entry.login.lower() in members[1])

    for _group, organization, members in groups:
        if members is None:
            continue  # a group missing from the directory changes nobody
        inside = member(members)
        if organization is None:
            if account.site_admin != inside:
                Account.update(site_admin=inside).where(Account.id == account.id).execute()
                account.site_admin = inside
                (report.admins_granted if inside else report.admins_revoked).append(account.login)
            continue
        org = find_account(organization)
        if org is None or not org.is_organization:
            continue
        membership = OrganizationMember.get_or_none(organization=org, user=account)
        if inside and membership is None:
            OrganizationMember.create(organization=org, user=account, role="member")
            report.members_added.append(f"{account.login} to {org.login}")
        elif not inside and membership is not None and membership.role == "member":
            # Owners were made by people, not by the directory: the sync leaves them be.
            membership.delete_instance()
            report.members_removed.append(f"{account.login} from {org.login}")


def directory_from_app(app: Flask) -> LdapDirectory:
    """The directory of the app's `[ldap]` settings (the app factory makes it)."""
    directory = app.extensions.get(EXTENSION)
    if directory is None:
        raise DirectoryError("[ldap] is not configured in appliance.toml")
    return directory


def init_app(app: Flask) -> None:
    """With `[ldap]` configured: the directory as an identity source of sign-in, and for the sync job and
    the CLI; without it, no directory is asked."""
    config = app.config["BOOTSTRAP"].ldap
    if config is None:
        unregister_identity_source(LDAP)
        return
    directory = app.extensions[EXTENSION] = LdapDirectory(config)
    register_identity_source(directory)
