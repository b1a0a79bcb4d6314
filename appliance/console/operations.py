"""Site administration, one function per change for both faces (the console and `appliance ...`): each
validates, changes, and leaves an audit entry naming the operator, the action, the target and the address.
Errors are the named errors of the layer below (SettingError, AccountError); nothing is changed then."""
from __future__ import annotations

import datetime as dt
import getpass
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask

from appliance import packages as service
from appliance.accounts import service as accounts
from appliance.audit import Operator, record
from appliance.editions import edition
from appliance.models.accounts import Account
from appliance.settings import (
    SPECS,
    RuntimeSettings,
    SettingError,
    SettingSpec,
    parse_setting,
    store_setting,
)


def cli_operator() -> Operator:
    """The CLI acts as the machine's user who ran it, from the machine itself."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Operator(login=f"cli:{who}", address="local")


def account_operator(account: Account, address: str) -> Operator:
    return Operator(login=account.login, account_id=account.id, address=address)


# ---- settings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingRow:
    spec: SettingSpec
    value: Any  # as configured
    in_force: Any  # what applies (the edition may decide)

    @property
    def is_default(self) -> bool:
        return self.value == self.spec.default


def setting_rows(settings: RuntimeSettings | None = None) -> list[SettingRow]:
    settings = settings or RuntimeSettings.load()
    return [SettingRow(spec, settings.configured(key), settings[key]) for key, spec in SPECS.items()]


class NeedsConfirmation(SettingError):
    """A change whose consequences the operator must see and confirm first; the message says them."""


def isolation_off_warning(settings: RuntimeSettings | None = None) -> str | None:
    """What turning subdomain isolation off would do, or None when it would leave Docker serving."""
    settings = settings or RuntimeSettings.load()
    if not settings.edition.docker_needs_isolation:
        return None
    images = service.live_package_count("docker")
    return (f"With subdomain isolation off the Docker registry stops: Docker clients need it at the root of its "
            f"own host (docker.{settings['hostname']}). {images} image{'' if images == 1 else 's'} "
            f"become{'s' if images == 1 else ''} unreachable until it is turned back on; nothing is deleted.")


def change_setting(operator: Operator, key: str, value: Any, *, confirmed: bool = False) -> tuple[Any, list[str]]:
    """Validate and store one runtime setting (every worker reads it on its next request); returns the
    stored value and warnings to show. A change with consequences raises NeedsConfirmation unless
    `confirmed`; an invalid value raises SettingError and changes nothing."""
    parsed = parse_setting(key, value)
    before = RuntimeSettings.load()
    warnings: list[str] = []
    if key == "subdomain_isolation" and parsed is False and before["subdomain_isolation"]:
        warning = isolation_off_warning(before)
        if warning:
            if not confirmed:
                raise NeedsConfirmation(warning)
            warnings.append(warning)
    if key == "edition" and parsed != before.configured("edition"):
        warnings += edition_conflicts(parsed)
    store_setting(key, parsed)
    record(operator, "setting.change", f"setting:{key}", before=before.configured(key), after=parsed)
    return parsed, warnings


def edition_conflicts(name: str | None = None) -> list[str]:
    """What is kept but the edition (`name`, or the one in force) does not allow: repositories of a
    visibility it does not offer; Docker without isolation where it needs it."""
    rules = edition(name) if name else RuntimeSettings.load().edition
    settings = RuntimeSettings.load()
    conflicts = [f"{repository.full_name} is {repository.visibility}: the {rules.name} edition offers "
                 f"{', '.join(rules.visibilities)}; change its visibility"
                 for repository in accounts.repositories_with_visibility_not_in(rules.visibilities)]
    if rules.docker_needs_isolation and not settings["subdomain_isolation"]:
        conflicts.append(f"the {rules.name} edition serves Docker only with subdomain isolation, which is off")
    return conflicts


def set_maintenance(operator: Operator, on: bool, message: str | None = None,
                    starts_at: str | None = None) -> RuntimeSettings:
    """Maintenance mode on (at once, or from `starts_at`, UTC) with a message, or off. All of it is
    validated before anything is stored."""
    changes: dict[str, Any] = {"maintenance_mode": parse_setting("maintenance_mode", on)}
    if message is not None:
        if not message.strip():
            raise SettingError("say what users are told during maintenance")
        changes["maintenance_message"] = parse_setting("maintenance_message", message.strip()[:500])
    if starts_at is not None:
        changes["maintenance_starts_at"] = parse_setting("maintenance_starts_at", starts_at)
    for key, value in changes.items():
        store_setting(key, value)
    record(operator, "maintenance.on" if on else "maintenance.off", "setting:maintenance_mode",
           **{k: v for k, v in changes.items() if k != "maintenance_mode"})
    return RuntimeSettings.load()


# ---- users -----------------------------------------------------------------------------------------------


def create_user(operator: Operator, login: str, *, email: str | None = None, password: str | None = None,
                site_admin: bool = False, make_password: bool = True) -> tuple[Account, str | None]:
    """Create a user; returns it and, when no password was given and `make_password`, the one made for
    it (shown once). Without either, the user signs in only once given one (or through the directory)."""
    made = None if password or not make_password else secrets.token_urlsafe(12)
    user = accounts.create_user(login, email=email or None, password=password or made, site_admin=site_admin)
    record(operator, "user.create", f"user:{user.login}", site_admin=site_admin)
    return user, made


def suspend_user(operator: Operator, login: str, suspended: bool = True) -> Account:
    user = accounts.get_user(login)
    if suspended and operator.account_id == user.id:
        raise accounts.AccountError("you cannot suspend yourself")
    accounts.set_suspended(user, suspended)
    record(operator, "user.suspend" if suspended else "user.unsuspend", f"user:{user.login}")
    return user


def set_site_admin(operator: Operator, login: str, site_admin: bool) -> Account:
    user = accounts.get_user(login)
    accounts.set_site_admin(user, site_admin)
    record(operator, "user.promote" if site_admin else "user.demote", f"user:{user.login}")
    return user


def reset_password(operator: Operator, login: str, password: str | None = None) -> str:
    """Give the user a new password (made here unless given) and end their sessions; returns it."""
    user = accounts.get_user(login)
    if user.identity_source == "ldap":
        raise accounts.AccountError(f"{user.login} signs in with the directory's password: change it there")
    password = password or secrets.token_urlsafe(12)
    accounts.set_password(user, password)
    record(operator, "user.reset_password", f"user:{user.login}")
    return password


# ---- organizations and repositories ----------------------------------------------------------------------


def create_organization(operator: Operator, name: str, owner_login: str) -> Account:
    org = accounts.create_organization(name, accounts.get_user(owner_login))
    record(operator, "org.create", f"org:{org.login}", owner=owner_login)
    return org


def set_member(operator: Operator, org_login: str, user_login: str, role: str | None) -> None:
    """Add the user to the organization with `role` (owner or member), or remove them (None)."""
    org, user = accounts.get_account(org_login), accounts.get_user(user_login)
    if role is None:
        accounts.remove_member(org, user)
        record(operator, "org.remove_member", f"org:{org.login}", user=user.login)
    else:
        accounts.add_member(org, user, role)
        record(operator, "org.set_member", f"org:{org.login}", user=user.login, role=role)


def create_repository(operator: Operator, full_name: str, visibility: str) -> Any:
    owner, name = accounts.split_full_name(full_name)
    repository = accounts.create_repository(accounts.get_account(owner), name, visibility)
    record(operator, "repo.create", f"repo:{repository.full_name}", visibility=visibility)
    return repository


def set_visibility(operator: Operator, full_name: str, visibility: str) -> Any:
    repository = accounts.get_repository(full_name)
    before = repository.visibility
    accounts.set_visibility(repository, visibility)
    record(operator, "repo.visibility", f"repo:{repository.full_name}", before=before, after=visibility)
    return repository


def set_collaborator(operator: Operator, full_name: str, user_login: str, role: str | None) -> None:
    """Grant the user `role` (read, write, admin) on the repository, or take their access away (None)."""
    repository, user = accounts.get_repository(full_name), accounts.get_user(user_login)
    if role is None:
        accounts.remove_collaborator(repository, user)
        record(operator, "repo.remove_collaborator", f"repo:{repository.full_name}", user=user.login)
    else:
        accounts.grant(repository, user, role)
        record(operator, "repo.grant", f"repo:{repository.full_name}", user=user.login, role=role)


# ---- billing (the cloud edition) ---------------------------------------------------------------------------


def set_spending_limit(operator: Operator, owner_login: str, amount: str) -> Account:
    """Give a user or an organization their own monthly spending limit (`amount` in dollars, "25" or
    "12.50"), or the default setting's again ("" or "default"). InvalidSpendingLimit outside `cloud` or for
    an amount that is not one; nothing is changed then."""
    owner = accounts.get_account(owner_login)
    cents = service.parse_dollars(amount)
    before, was_default = service.spending_limit_cents(owner)
    service.set_spending_limit(owner, cents)
    record(operator, "billing.spending_limit", f"{'org' if owner.is_organization else 'user'}:{owner.login}",
           before=None if was_default else before, after=cents)
    return owner


# ---- jobs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    name: str
    every: dt.timedelta
    status: Any  # JobStatus or None

    @property
    def next_run(self) -> dt.datetime | None:
        if self.status is None or self.status.last_started_at is None:
            return None
        return self.status.last_started_at + self.every


def job_rows(app: Flask) -> list[JobRow]:
    from appliance.jobs.scheduler import job_statuses, jobs_for

    statuses = job_statuses()
    return [JobRow(job.name, job.every, statuses.get(job.name)) for job in jobs_for(app.config["BOOTSTRAP"])]


def run_job_now(operator: Operator, app: Flask, name: str) -> str | None:
    """Run the job here and now under its lease; returns what it did (None: another scheduler holds it).
    A failure is recorded by the job's status and raised as JobFailed."""
    from appliance.jobs.leases import holder_name
    from appliance.jobs.scheduler import find_job, run_job

    job = find_job(app.config["BOOTSTRAP"], name)
    record(operator, "job.run", f"job:{name}")
    return run_job(app, job, holder_name())




# ---- the directory ([ldap] of appliance.toml) ----------------------------------------------------------------


def check_directory(operator: Operator, app: Flask) -> list[str]:
    """Bind and search with the [ldap] settings, as `appliance ldap check`; DirectoryError and
    DirectoryUnavailable say what failed (a wrong bind password, a directory that does not answer)."""
    from appliance.accounts.ldap import directory_from_app

    record(operator, "ldap.check", "ldap")
    return directory_from_app(app).check()


def save_directory_settings(operator: Operator, bootstrap, form: dict[str, Any]):
    """Write new [ldap] settings into appliance.toml (validated as at start, the bind password kept when
    none is given); the appliance uses them once restarted. Returns the new bootstrap."""
    import dataclasses

    from appliance.settings import LdapConfig

    data: dict[str, Any] = {key: value for key, value in form.items() if value not in ("", None)}
    data["uri"] = [uri.strip() for uri in str(form.get("uri", "")).split() if uri.strip()]
    data["start_tls"] = bool(form.get("start_tls"))
    if "timeout" in data:
        try:
            data["timeout"] = float(data["timeout"])
        except ValueError:
            raise SettingError("timeout in [ldap] must be a number of seconds above 0") from None
    organizations = {}
    for line in str(form.get("organizations", "")).splitlines():
        group, sep, org = line.rpartition("=")
        if line.strip():
            if not sep or not group.strip() or not org.strip():
                raise SettingError(f"organization mappings are GROUP-DN = ORGANIZATION lines, not {line!r}")
            organizations[group.strip()] = org.strip()
    data["organizations"] = organizations
    if not data.get("bind_password") and bootstrap.ldap is not None and bootstrap.ldap.bind_password:
        data["bind_password"] = bootstrap.ldap.bind_password
    config = LdapConfig.parse(data)
    updated = dataclasses.replace(bootstrap, ldap=config)
    updated.write()
    record(operator, "ldap.settings", "ldap", uri=list(config.uris), bind_dn=config.bind_dn,
           user_base=config.user_base)
    return updated
