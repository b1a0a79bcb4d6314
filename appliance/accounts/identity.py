"""Signing in: the one seam every identity source plugs into (built-in accounts first, then LDAP and
whatever else registers), the slowdown after wrong passwords, the audit log, and the session epoch that
ends a user's browser sessions on every worker."""
from __future__ import annotations

import datetime as dt
import json
from typing import Protocol

from peewee import fn

from appliance.accounts.service import check_password, find_account
from appliance.models.accounts import Account, SignInFailure
from appliance.models.audit import AuditEvent
from appliance.models.base import utcnow

# Five wrong passwords for one login within a minute: that login waits until the oldest is a minute old.
FAILURE_LIMIT = 5
FAILURE_WINDOW = dt.timedelta(minutes=1)


class SignInError(Exception):
    """Signing in failed; the message is what the person is shown."""


class SignInThrottled(SignInError):
    """Too many wrong passwords for this login lately; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class IdentityUnavailable(Exception):
    """An identity source cannot answer now (its directory is down); the message says which and why."""


class IdentitySource(Protocol):
    name: str

    def authenticate(self, login: str, password: str) -> Account | None:
        """The account (made or updated from the source) when the password is right, else None.
        Raises IdentityUnavailable when the source cannot be asked."""


_sources: dict[str, IdentitySource] = {}


def register_identity_source(source: IdentitySource) -> None:
    """Add a source sign_in asks after the built-in accounts; one of the same name is replaced."""
    _sources[source.name] = source


def unregister_identity_source(name: str) -> None:
    _sources.pop(name, None)


def identity_sources() -> list[IdentitySource]:
    return list(_sources.values())


def _audit(action: str, login: str, account: Account | None, address: str, **data) -> None:
    AuditEvent.create(actor=account.id if account else None, actor_login=account.login if account else login,
                      action=action, target=f"user:{login}", data=json.dumps(data), remote_addr=address or "")


def _retry_after(lower_login: str) -> int:
    """Seconds this login must wait before its password is checked again (0: it need not wait)."""
    since = utcnow() - FAILURE_WINDOW
    recent = (SignInFailure.select(fn.COUNT(SignInFailure.id), fn.MIN(SignInFailure.created_at))
              .where((SignInFailure.lower_login == lower_login) & (SignInFailure.created_at > since))
              .scalar(as_tuple=True))
    count, oldest = recent
    if count < FAILURE_LIMIT or oldest is None:
        return 0
    if isinstance(oldest, str):  # SQLite hands aggregates back as text
        oldest = dt.datetime.fromisoformat(oldest)
    return max(1, int((oldest - since).total_seconds()) + 1)


def _built_in(login: str, password: str) -> Account | None:
    account = find_account(login)
    if account is not None and not account.is_organization and check_password(account, password):
        return account
    return None


def sign_in(login: str, password: str, *, address: str = "") -> Account:
    """The account whose login and password these are: the built-in accounts first, then each registered
    source. Raises SignInError with what to tell the person (wrong password, suspended, too many tries,
    a directory that is down)."""
    login = login.strip()
    lower_login = login.lower()
    if not login or not password:
        raise SignInError("enter your login and password")
    wait = _retry_after(lower_login)
    if wait:
        _audit("user.sign_in_throttled", login, None, address)
        raise SignInThrottled(f"too many wrong passwords for {login}: wait {wait} seconds and try again", wait)

    account = _built_in(login, password)
    source_name = "built-in"
    unavailable: list[str] = []
    for source in identity_sources():
        if account is not None:
            break
        try:
            account = source.authenticate(login, password)
            source_name = source.name
        except IdentityUnavailable as e:
            unavailable.append(str(e))

    if account is None:
        # Rows past the window slow nobody down: each failure sweeps them, so the table stays small.
        SignInFailure.delete().where(SignInFailure.created_at <= utcnow() - FAILURE_WINDOW).execute()
        SignInFailure.create(lower_login=lower_login, remote_addr=address or "")
        _audit("user.sign_in_failed", login, None, address)
        if unavailable:
            raise SignInError(f"cannot check this password now: {'; '.join(unavailable)}")
        raise SignInError("wrong login or password")
    if account.suspended:
        _audit("user.sign_in_refused", account.login, account, address, reason="suspended")
        raise SignInError(f"{account.login} is suspended: ask a site administrator")
    SignInFailure.delete().where(SignInFailure.lower_login == lower_login).execute()
    if source_name == "built-in" and account.site_admin and identity_sources():
        # A site administrator of the appliance's own, beside a directory: the way in when the directory
        # is down or wrongly set up, which an auditor wants to see apart from everyday sign-ins.
        _audit("user.sign_in", account.login, account, address, source=source_name, break_glass=True)
    else:
        _audit("user.sign_in", account.login, account, address, source=source_name)
    return account


def end_sessions(account: Account) -> None:
    """End every browser session of the account, on every worker (sign out everywhere, suspension, a new
    password): each session carries the epoch it began in, and this moves the account past it."""
    Account.update(session_epoch=Account.session_epoch + 1).where(Account.id == account.id).execute()


def session_account(account_id: int, epoch: int) -> Account | None:
    """The account a browser session of `epoch` belongs to, or None when that session has ended (signed
    out everywhere, suspended, a new password, an organization, a deleted account)."""
    account = Account.get_or_none(Account.id == account_id)
    if account is None or account.is_organization or account.suspended or account.session_epoch != epoch:
        return None
    return account



def sign_out(account: Account, *, everywhere: bool = False, address: str = "") -> None:
    """Record a sign-out; `everywhere` also ends the account's other sessions (see end_sessions)."""
    if everywhere:
        end_sessions(account)
    _audit("user.sign_out", account.login, account, address, everywhere=everywhere)
