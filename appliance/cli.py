"""The `appliance` command: the names DESIGN.md promises scripts. Errors go to stderr, exit non-zero."""
from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import click

from appliance.settings import (
    FORMATS,
    SPECS,
    Bootstrap,
    RuntimeSettings,
    SettingError,
    default_home,
    store_setting,
)


class ApplianceGroup(click.Group):
    """Turns the domain errors every command may raise into one clean line on stderr."""

    def invoke(self, ctx):
        from appliance.accounts.ldap import DirectoryError, DirectoryUnavailable
        from appliance.accounts.service import AccountError
        from appliance.auth.tokens import TokenError
        from appliance.backup import BackupError
        from appliance.jobs.scheduler import JobNotFound
        from appliance.migrate import MigrationNotFound
        from appliance.packages import PackageError
        from appliance.storage.base import StorageError

        # Named errors only: anything else is a bug, and its traceback is what finds it.
        try:
            return super().invoke(ctx)
        except (AccountError, SettingError, TokenError, PackageError, BackupError, DirectoryError,
                DirectoryUnavailable, JobNotFound, StorageError, MigrationNotFound) as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)


def _home(ctx: click.Context) -> Path:
    return ctx.obj["home"]


def _open(ctx: click.Context) -> Bootstrap:
    """Open the database of the appliance in APPLIANCE_HOME, refusing to work on an old schema."""
    from appliance.db import open_database
    from appliance.migrate import migration_status

    bootstrap = Bootstrap.load(_home(ctx))
    db = open_database(bootstrap.database_url)
    pending = [m.name for m in migration_status(db) if not m.applied]
    if pending and ctx.info_name != "migrate":
        raise SettingError(f"the database needs migrations ({', '.join(pending)}): run `appliance migrate`")
    return bootstrap


@click.group(cls=ApplianceGroup)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="APPLIANCE_HOME",
              default=None, help="The appliance's data directory (default: $APPLIANCE_HOME or ./var).")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """The packages appliance: a registry for npm, RubyGems, Maven, NuGet and container images."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home.resolve() if home else default_home()


@main.command()
@click.option("--home", "init_home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to put the configuration, database and storage.")
@click.option("--hostname", default=None, help="The host name users reach the appliance at.")
@click.option("--admin", "admin_login", default="admin", show_default=True, help="The first site admin's name.")
@click.option("--bind", default="127.0.0.1:8080", show_default=True,
              help="HOST:PORT `appliance serve` will listen on: the address the printed configurations use.")
@click.pass_context
def init(ctx: click.Context, init_home: Path | None, hostname: str | None, admin_login: str, bind: str) -> None:
    """Write the configuration, create the database and storage and the first site admin; print how to
    sign in and, per format, a client configuration for a first publish."""
    from appliance.accounts.service import create_user
    from appliance.auth.tokens import issue_token
    from appliance.db import open_database
    from appliance.migrate import migrate
    from appliance.models.tokens import SCOPES
    from appliance.quickstart import client_configurations, serve_address

    home = init_home.resolve() if init_home else _home(ctx)
    if (home / "appliance.toml").exists():
        raise SettingError(f"{home} is already initialised; start it with `appliance serve`")
    bootstrap = Bootstrap.embedded_default(home)
    bootstrap.storage_path.mkdir(parents=True, exist_ok=True)
    db = open_database(bootstrap.database_url)
    migrate(db)
    if hostname:
        store_setting("hostname", hostname)
    password = secrets.token_urlsafe(12)
    admin = create_user(admin_login, password=password, site_admin=True)
    _, token = issue_token(admin, list(SCOPES), note="created by appliance init")
    # Written last: the file marks the home initialised, so an init that failed above can be run again.
    bootstrap.write()
    host, port = serve_address(bind, RuntimeSettings.load()["hostname"])
    command = f"{Path(sys.argv[0]).resolve()} --home {home}" if sys.argv and sys.argv[0] else "appliance"
    click.echo(f"Initialised the appliance in {home}\n")
    click.echo(f"  URL:            http://{host}:{port}/")
    click.echo(f"  site admin:     {admin_login}")
    click.echo(f"  token (all scopes, shown once): {token}\n")
    click.echo(client_configurations(host=host, port=port, owner=admin_login, token=token, appliance=command))
    click.echo(f"More tokens: {command} tokens create {admin_login} --scopes read:packages,write:packages\n")
    click.echo(f"Sign in as the site admin at http://{host}:{port}/login")
    click.echo(f"  user:           {admin_login}")
    click.echo(f"  password:       {password}")


@main.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes.")
@click.option("--threads", type=int, default=4, show_default=True, help="Threads per worker.")
@click.pass_context
def serve(ctx: click.Context, bind: str, workers: int, threads: int) -> None:
    """Run the web application under gunicorn."""
    from appliance.server import run_gunicorn

    bootstrap = _open(ctx)
    run_gunicorn(bootstrap.home, bind=bind, workers=workers, threads=threads, metrics=bootstrap.metrics is not None)


@main.command()
@click.option("--once", is_flag=True, help="Run every job one time (where no other scheduler holds it) and exit.")
@click.pass_context
def scheduler(ctx: click.Context, once: bool) -> None:
    """Run the scheduled jobs (storage cleanup); any number may run, each job runs in one at a time."""
    import logging

    from appliance import create_app
    from appliance.jobs.scheduler import jobs_for, run_forever

    bootstrap = _open(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(bootstrap)
    if not once:
        run_forever(app)
        return
    failed = [job.name for job in jobs_for(bootstrap) if not _run_job_now(app, job)]
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)} (`appliance jobs list` says why)")


def _run_job_now(app, job) -> bool:
    """Run one job here and now, under its lease; says what it did and returns whether it did not fail."""
    from appliance.jobs.leases import holder_name
    from appliance.jobs.scheduler import JobFailed, run_job

    try:
        outcome = run_job(app, job, holder_name())
    except JobFailed as e:
        click.echo(str(e), err=True)
        return False
    click.echo(f"{job.name}: {outcome if outcome is not None else 'skipped, another scheduler holds it'}")
    return True


@main.command("migrate")
@click.option("--status", is_flag=True, help="List migrations and whether each is applied.")
@click.pass_context
def migrate_command(ctx: click.Context, status: bool) -> None:
    """Bring the database schema up to date."""
    from appliance.db import database
    from appliance.migrate import migrate, migration_status

    _open(ctx)
    if status:
        for m in migration_status(database.obj):
            click.echo(f"{'applied' if m.applied else 'pending'}  {m.name}")
        return
    done = migrate(database.obj)
    click.echo("\n".join(f"applied {name}" for name in done) or "the schema is up to date")


@main.group()
def config() -> None:
    """Runtime settings: they take effect on every worker without a restart."""


@config.command("list")
@click.pass_context
def config_list(ctx: click.Context) -> None:
    _open(ctx)
    for key, value in RuntimeSettings.load().items():
        click.echo(f"{key} = {json.dumps(value)}")


@config.command("get")
@click.argument("key")
@click.pass_context
def config_get(ctx: click.Context, key: str) -> None:
    _open(ctx)
    if key not in SPECS:
        raise SettingError(f"unknown setting {key!r}; `appliance config list` shows them all")
    value = RuntimeSettings.load()[key]
    click.echo(value if isinstance(value, str) else json.dumps(value))


@config.command("set")
@click.argument("key")
@click.argument("value")
@click.pass_context
def config_set(ctx: click.Context, key: str, value: str) -> None:
    """Change a setting (as the console does, and recorded in the audit log); what the change does
    beyond itself (Docker stopping, what an edition forbids) is printed as warnings."""
    from appliance.console.operations import change_setting, cli_operator

    _open(ctx)
    parsed, warnings = change_setting(cli_operator(), key, value, confirmed=True)
    click.echo(f"{key} = {json.dumps(parsed)}")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@main.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("name")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--site-admin", is_flag=True, help="Make the user a site administrator.")
@click.pass_context
def users_create(ctx: click.Context, name: str, email: str | None, password_stdin: bool, site_admin: bool) -> None:
    from appliance.console import operations

    _open(ctx)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and not password:
        raise SettingError("no password on standard input")
    user, _ = operations.create_user(operations.cli_operator(), name, email=email, password=password,
                                     site_admin=site_admin, make_password=False)
    click.echo(f"created user {user.login}{' (site admin)' if site_admin else ''}")


def _user_command(name: str, summary: str, operation_name: str, argument: bool, outcome: str) -> None:
    @users.command(name, help=summary)
    @click.argument("user")
    @click.pass_context
    def command(ctx: click.Context, user: str) -> None:
        from appliance.console import operations

        _open(ctx)
        getattr(operations, operation_name)(operations.cli_operator(), user, argument)
        click.echo(f"{user} is {outcome}")


_user_command("suspend", "Suspend USER: their sessions and tokens stop at once; nothing is deleted.",
              "suspend_user", True, "suspended")
_user_command("unsuspend", "Let a suspended USER sign in and use their tokens again.", "suspend_user", False,
              "no longer suspended")
_user_command("promote", "Make USER a site administrator.", "set_site_admin", True, "a site administrator")
_user_command("demote", "Make USER a user like the others (the last site administrator cannot be).",
              "set_site_admin", False, "no longer a site administrator")


@users.command("reset-password")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@click.pass_context
def users_reset_password(ctx: click.Context, user: str, password_stdin: bool) -> None:
    """Give USER a new password (printed unless read from stdin); their browser sessions end."""
    from appliance.console import operations

    _open(ctx)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    made = operations.reset_password(operations.cli_operator(), user, password)
    click.echo(f"{user}'s password is reset" + ("" if password_stdin else f": {made}"))


@users.command("list")
@click.option("--query", "-q", default="", help="Part of a login, name or e-mail.")
@click.pass_context
def users_list(ctx: click.Context, query: str) -> None:
    """Users, one a line: login, e-mail, site admin, suspended."""
    from appliance.accounts.service import search_users

    _open(ctx)
    rows, _ = search_users(query, limit=1_000_000)
    for user in rows:
        flags = ",".join(flag for flag, on in (("site-admin", user.site_admin), ("suspended", user.suspended)) if on)
        click.echo(f"{user.login}\t{user.email or '-'}\t{flags or '-'}")


@main.command()
@click.argument("state", type=click.Choice(["on", "off", "status"]))
@click.option("--message", default=None, help="What clients and pages are told.")
@click.option("--at", "starts_at", default=None, help="Begin at this UTC time (2026-12-03T22:00) instead of now.")
@click.pass_context
def maintenance(ctx: click.Context, state: str, message: str | None, starts_at: str | None) -> None:
    """Maintenance mode: registries, pages and the API answer 503 with the message and Retry-After; the
    console and /_health stay up."""
    from appliance.console import operations

    _open(ctx)
    if state != "status":
        operations.set_maintenance(operations.cli_operator(), state == "on", message,
                                   (starts_at or "") if state == "on" else "")
    settings = RuntimeSettings.load()
    if settings.in_maintenance():
        click.echo(f"maintenance mode is on: {settings['maintenance_message']}")
    elif settings.maintenance_scheduled():
        click.echo(f"maintenance mode begins at {settings['maintenance_starts_at']}: {settings['maintenance_message']}")
    else:
        click.echo("maintenance mode is off")


@main.group()
def orgs() -> None:
    """Organizations."""


@orgs.command("create")
@click.argument("name")
@click.option("--owner", required=True, help="A user who becomes the organization's first owner.")
@click.pass_context
def orgs_create(ctx: click.Context, name: str, owner: str) -> None:
    from appliance.console import operations

    _open(ctx)
    org = operations.create_organization(operations.cli_operator(), name, owner)
    click.echo(f"created organization {org.login}, owned by {owner}")


@orgs.command("add-member")
@click.argument("org")
@click.argument("user")
@click.option("--role", type=click.Choice(["owner", "member"]), default="member", show_default=True)
@click.pass_context
def orgs_add_member(ctx: click.Context, org: str, user: str, role: str) -> None:
    from appliance.console import operations

    _open(ctx)
    operations.set_member(operations.cli_operator(), org, user, role)
    click.echo(f"{user} is now {role} of {org}")


@main.group()
def repos() -> None:
    """Repositories: the permission containers packages belong to."""


@repos.command("create")
@click.argument("full_name", metavar="OWNER/NAME")
@click.option("--visibility", type=click.Choice(["public", "private", "internal"]), default="public",
              show_default=True)
@click.pass_context
def repos_create(ctx: click.Context, full_name: str, visibility: str) -> None:
    from appliance.console import operations

    _open(ctx)
    repository = operations.create_repository(operations.cli_operator(), full_name, visibility)
    click.echo(f"created {visibility} repository {repository.full_name}")


@repos.command("grant")
@click.argument("full_name", metavar="OWNER/NAME")
@click.argument("user")
@click.option("--role", type=click.Choice(["read", "write", "admin"]), required=True)
@click.pass_context
def repos_grant(ctx: click.Context, full_name: str, user: str, role: str) -> None:
    from appliance.console import operations

    _open(ctx)
    operations.set_collaborator(operations.cli_operator(), full_name, user, role)
    click.echo(f"{user} has {role} access to {full_name}")


@main.group()
def tokens() -> None:
    """Access tokens."""


@tokens.command("create")
@click.argument("user")
@click.option("--scopes", required=True, help="Comma-separated: read:packages,write:packages,delete:packages,repo")
@click.option("--expires-in", default=None, help="Lifetime such as 30m, 12h, 30d or 4w (default: no expiry).")
@click.option("--note", default="", help="What the token is for.")
@click.option("--repository", "repository_name", default=None, metavar="OWNER/NAME",
              help="Make a job token that can act on this repository only.")
@click.pass_context
def tokens_create(ctx: click.Context, user: str, scopes: str, expires_in: str | None, note: str,
                  repository_name: str | None) -> None:
    """Create a token and print it alone on stdout (it is shown once)."""
    from appliance.accounts.service import get_repository
    from appliance.auth.tokens import issue_token, parse_duration, parse_scopes

    bootstrap = _open(ctx)
    repository = get_repository(repository_name) if repository_name else None
    _, secret = issue_token(_user_or_directory(bootstrap, user), parse_scopes(scopes),
                            expires_in=parse_duration(expires_in) if expires_in else None,
                            note=note, repository=repository)
    click.echo(secret)


@tokens.command("list")
@click.argument("user", required=False)
@click.pass_context
def tokens_list(ctx: click.Context, user: str | None) -> None:
    """List tokens (of USER, or everyone's), newest first, one a line: id, user, state, scopes, created,
    last used, expires, note. Secrets are never shown: they are not stored."""
    from appliance.accounts.service import get_user
    from appliance.auth.tokens import list_tokens, token_state

    _open(ctx)
    rows = list_tokens(get_user(user) if user else None)
    click.echo("ID\tUSER\tSTATE\tSCOPES\tCREATED\tLAST_USED\tEXPIRES\tNOTE")
    for token in rows:
        click.echo("\t".join((str(token.id), token.user.login, token_state(token), token.scopes or "-",
                               _when(token.created_at), _when(token.last_used_at), _when(token.expires_at),
                               token.note or "-")))


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else "-"


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke the token TOKEN_ID (see `tokens list`): it stops working at once, on every worker."""
    from appliance.auth.tokens import revoke_token

    _open(ctx)
    token = revoke_token(token_id)
    click.echo(f"revoked token {token.id} of {token.user.login}")


def _user_or_directory(bootstrap: Bootstrap, login: str):
    """The user `login`; with [ldap], a directory user who has not signed in yet gets their account now."""
    from appliance.accounts.service import AccountNotFound, find_account, get_user

    if bootstrap.ldap is None or find_account(login) is not None:
        return get_user(login)
    from appliance.accounts.ldap import LdapDirectory

    account = LdapDirectory(bootstrap.ldap).provision(login)
    if account is None:
        raise AccountNotFound(f"no user named {login!r}, here or in the directory")
    return account


@main.group()
def packages() -> None:
    """Packages."""


@packages.command("list")
@click.option("--owner", default=None)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None)
@click.pass_context
def packages_list(ctx: click.Context, owner: str | None, fmt: str | None) -> None:
    from appliance.packages import all_packages, live_versions

    _open(ctx)
    for package in all_packages(owner, fmt):
        count = len(live_versions(package))
        click.echo(f"{package.format}\t{package.name}\t{package.repository.full_name}\t{count} versions")


def _find_package(owner: str, fmt: str, name: str, version: str | None, *, deleted: bool):
    """The package (and the version, when one is named): live ones, or with `deleted` the deleted one
    to restore; PackageNotFound or VersionNotFound otherwise."""
    from appliance import packages as service
    from appliance.packages import PackageNotFound, VersionNotFound

    package = service.find_package(owner, fmt, name, include_deleted=deleted)
    if package is None:
        raise PackageNotFound(f"{owner} has no {fmt} package {name}")
    if version is None:
        if deleted and package.deleted_at is None:
            raise PackageNotFound(f"{fmt} package {name} of {owner} is not deleted")
        return package, None
    found = service.find_version(package, version, include_deleted=deleted)
    if found is None:
        raise VersionNotFound(f"{fmt} package {name} of {owner} has no version {version}")
    if deleted and found.deleted_at is None:
        raise VersionNotFound(f"version {version} of the {fmt} package {name} of {owner} is not deleted")
    return package, found


def _acting_user(login: str):
    from appliance.accounts.service import get_user
    from appliance.auth.permissions import Actor

    return Actor(user=get_user(login))


_PACKAGE_ARGUMENTS = [
    click.argument("owner"),
    click.argument("fmt", metavar="FORMAT", type=click.Choice(FORMATS)),
    click.argument("name"),
    click.option("--version", default=None, help="One version; without it, the whole package."),
    click.option("--as", "login", required=True,
                 help="The user acting (needs admin on the package's repository, or to be a site admin)."),
]


def _package_arguments(command):
    for decorate in reversed(_PACKAGE_ARGUMENTS):
        command = decorate(command)
    return command


def _delete_or_restore(ctx: click.Context, owner: str, fmt: str, name: str, version: str | None, login: str,
                       *, restore: bool) -> None:
    from appliance import packages as service

    _open(ctx)
    actor = _acting_user(login)
    package, found = _find_package(owner, fmt, name, version, deleted=restore)
    if found is not None:
        (service.restore_version if restore else service.delete_version)(actor, found)
    else:
        (service.restore_package if restore else service.delete_package)(actor, package)
    what = f"{package.name} {found.version}" if found is not None else package.name
    click.echo(f"{'restored' if restore else 'deleted'} {fmt} {what}")


@packages.command("delete")
@_package_arguments
@click.pass_context
def packages_delete(ctx: click.Context, owner: str, fmt: str, name: str, version: str | None, login: str) -> None:
    """Delete a package or one version: gone from every index, restorable for retention.deleted_days."""
    _delete_or_restore(ctx, owner, fmt, name, version, login, restore=False)


@packages.command("restore")
@_package_arguments
@click.pass_context
def packages_restore(ctx: click.Context, owner: str, fmt: str, name: str, version: str | None, login: str) -> None:
    """Restore a deleted package, or a deleted (yanked, unpublished) version, within retention.deleted_days."""
    _delete_or_restore(ctx, owner, fmt, name, version, login, restore=True)


@main.group()
def billing() -> None:
    """Cloud billing: owners' usage of private packages and their spending limits (the console's Billing)."""


@billing.command("show")
@click.argument("owner")
@click.pass_context
def billing_show(ctx: click.Context, owner: str) -> None:
    """This month's storage, transfer, cost and spending limit of a user or organization."""
    from appliance import packages as service
    from appliance.accounts import service as accounts

    _open(ctx)
    usage = service.owner_usage(accounts.get_account(owner))
    figures = usage.describe()
    if not service.billing_on():
        click.echo("billing is off: the edition meters nothing (it is on in the cloud edition)")
    click.echo(f"month\t{figures['month']}")
    click.echo(f"storage\t{figures['storage']} of {figures['included_storage']} included")
    click.echo(f"transfer\t{figures['transfer']} of {figures['included_transfer']} included")
    click.echo(f"cost\t{figures['cost']}")
    click.echo(f"limit\t{figures['limit']}{' (default)' if usage.limit_is_default else ''}")


@billing.command("limit")
@click.argument("owner")
@click.argument("amount")
@click.pass_context
def billing_limit(ctx: click.Context, owner: str, amount: str) -> None:
    """Set OWNER's monthly spending limit to AMOUNT dollars (25, 12.50), or `default` for the
    billing.default_spending_limit_cents setting's."""
    from appliance import packages as service
    from appliance.console import operations

    _open(ctx)
    account = operations.set_spending_limit(operations.cli_operator(), owner, amount)
    cents, is_default = service.spending_limit_cents(account)
    click.echo(f"{account.login}'s spending limit is ${cents / 100:.2f} a month{' (the default)' if is_default else ''}")


@main.group()
def jobs() -> None:
    """Scheduled jobs (what `appliance scheduler` runs): their last runs, and running one now."""


@jobs.command("list")
@click.pass_context
def jobs_list(ctx: click.Context) -> None:
    """Each job, how often it runs, and its last run: when, how long, the outcome and what it did."""
    from appliance.jobs.scheduler import job_statuses, jobs_for

    bootstrap = _open(ctx)
    statuses = job_statuses()
    for job in jobs_for(bootstrap):
        status = statuses.get(job.name)
        every = _interval(job.every)
        if status is None or status.last_started_at is None:
            click.echo(f"{job.name}\tevery {every}\tnever run")
            continue
        next_run = status.last_started_at + job.every
        click.echo(f"{job.name}\tevery {every}\tlast {status.last_started_at:%Y-%m-%d %H:%M:%S}Z "
                   f"({status.last_duration_seconds:.1f} s, {status.last_outcome})\tnext {next_run:%Y-%m-%d %H:%M:%S}Z"
                   f"\t{status.runs} runs, {status.failures} failed\t{status.last_summary}")


def _interval(every) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@jobs.command("run")
@click.argument("name")
@click.pass_context
def jobs_run(ctx: click.Context, name: str) -> None:
    """Run the job NAME now (unless another scheduler is running it), and say what it did."""
    from appliance import create_app
    from appliance.jobs.scheduler import find_job

    bootstrap = _open(ctx)
    if not _run_job_now(create_app(bootstrap), find_job(bootstrap, name)):
        ctx.exit(1)


@main.group()
def backup() -> None:
    """Backups: the database and its blobs together, consistent while the appliance serves."""


@backup.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def backup_create(ctx: click.Context, directory: Path) -> None:
    """Take a snapshot into DIRECTORY; blobs an earlier snapshot there has are not copied again."""
    from appliance.backup import create_backup
    from appliance.storage import open_storage
    from appliance.storage.blobs import BlobStore

    bootstrap = _open(ctx)
    storage = open_storage(bootstrap.storage_backend, bootstrap.storage_path, bootstrap.storage_options)
    click.echo(create_backup(bootstrap, directory, blob_store=BlobStore(storage)).summary())


@backup.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def backup_verify(directory: Path) -> None:
    """Check the newest snapshot of DIRECTORY (or the snapshot DIRECTORY) against its manifest's checksums."""
    from appliance.backup import find_snapshot, verify_backup

    _, snapshot = find_snapshot(directory)
    problems = verify_backup(snapshot)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{snapshot} is damaged: {len(problems)} problems")
    click.echo(f"{snapshot}: the database and every blob match the manifest")


@backup.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def backup_restore(ctx: click.Context, directory: Path) -> None:
    """Restore the newest snapshot of DIRECTORY (or the snapshot DIRECTORY) into an empty APPLIANCE_HOME."""
    from appliance.backup import restore_backup

    report = restore_backup(directory, _home(ctx))
    click.echo(f"restored {report.snapshot} into {_home(ctx)}: {report.blobs} blobs ({report.blob_bytes} bytes) "
               f"in {report.seconds:.1f} s; start it with `appliance serve`")


@main.group()
def ldap() -> None:
    """The [ldap] directory: check the settings, sync the accounts now."""


def _directory(ctx: click.Context):
    from appliance.accounts.ldap import LdapDirectory

    bootstrap = _open(ctx)
    if bootstrap.ldap is None:
        raise SettingError("[ldap] is not configured in appliance.toml")
    return bootstrap, LdapDirectory(bootstrap.ldap)


@ldap.command("check")
@click.pass_context
def ldap_check(ctx: click.Context) -> None:
    """Bind with bind_dn and search with the [ldap] settings, and say what was found."""
    _, directory = _directory(ctx)
    for line in directory.check():
        click.echo(line)


@ldap.command("sync")
@click.pass_context
def ldap_sync(ctx: click.Context) -> None:
    """Run the ldap_sync job now: names, e-mails, site admins, organization members; suspend who left."""
    from appliance import create_app
    from appliance.jobs.scheduler import find_job

    bootstrap, _ = _directory(ctx)
    if not _run_job_now(create_app(bootstrap), find_job(bootstrap, "ldap_sync")):
        ctx.exit(1)


@main.group()
def storage() -> None:
    """The blob store: check it against the database, move it to S3."""


def _blob_store_of(bootstrap: Bootstrap, backend: str, options: dict):
    from appliance.storage import open_storage
    from appliance.storage.blobs import BlobStore

    return BlobStore(open_storage(backend, bootstrap.storage_path, options))


def _report_problems(problems) -> int:
    """Each problem on stderr with where the blob is used; returns how many there were."""
    from appliance.packages import blob_users

    count = 0
    for problem in problems:
        count += 1
        users = blob_users(problem.sha256)
        click.echo(f"{problem}; used by {', '.join(users) if users else 'nothing'}", err=True)
    return count


@storage.command("verify")
@click.option("--quick", is_flag=True, help="Check that each blob is there at its size, without reading it.")
@click.pass_context
def storage_verify(ctx: click.Context, quick: bool) -> None:
    """Check every blob the database knows of: there, of its size, and (unless --quick) holding bytes
    whose sha256 is its name. Each blob missing or wrong is printed with what uses it; exits 1 if any."""
    from appliance.packages import stored_blobs
    from appliance.storage.transfer import verify_blobs

    bootstrap = _open(ctx)
    store = _blob_store_of(bootstrap, bootstrap.storage_backend, bootstrap.storage_options)
    blobs = list(stored_blobs())
    problems = _report_problems(verify_blobs(store, blobs, read=not quick))
    if problems:
        raise click.ClickException(f"{problems} of {len(blobs)} blobs are missing or damaged in the store")
    click.echo(f"all {len(blobs)} blobs are in the store{'' if quick else ' with the bytes their digests name'}")


@storage.command("migrate")
@click.option("--to", "target", type=click.Choice(["s3"]), required=True, help="The backend to move to.")
@click.option("--bucket", required=True, help="The bucket (it must exist).")
@click.option("--endpoint-url", default=None, help="The store's URL; none means AWS S3.")
@click.option("--region", default=None, help="The bucket's region.")
@click.option("--prefix", default="", help="A key prefix for everything the appliance stores.")
@click.option("--access-key-id", default=None, help="Credentials; without them, the standard AWS_* variables.")
@click.option("--secret-access-key", default=None)
@click.option("--switch/--no-switch", default=True, show_default=True,
              help="Once every blob is copied and verified, point appliance.toml at the new store.")
@click.pass_context
def storage_migrate(ctx: click.Context, target: str, bucket: str, endpoint_url: str | None, region: str | None,
                    prefix: str, access_key_id: str | None, secret_access_key: str | None, switch: bool) -> None:
    """Copy every blob of the local store to S3, each verified as it streams and read back at the end.
    Stopped or failed, it can be run again: blobs already copied are not sent twice."""
    import dataclasses

    from appliance.packages import stored_blobs
    from appliance.storage.transfer import copy_blobs, verify_blobs

    bootstrap = _open(ctx)
    if bootstrap.storage_backend != "local":
        raise SettingError(f"the store is {bootstrap.storage_backend} already; migrate copies a local store")
    options = {key: value for key, value in (("endpoint_url", endpoint_url), ("bucket", bucket),
                                             ("region", region), ("prefix", prefix),
                                             ("access_key_id", access_key_id),
                                             ("secret_access_key", secret_access_key)) if value}
    source = _blob_store_of(bootstrap, "local", {})
    destination = _blob_store_of(bootstrap, target, options)
    blobs = list(stored_blobs())
    click.echo(f"copying {len(blobs)} blobs from {bootstrap.storage_path} to {target} bucket {bucket}")
    report = copy_blobs(source, destination, blobs)
    click.echo(report.summary())
    damaged = {problem.sha256 for problem in report.problems}
    problems = _report_problems(report.problems)
    problems += _report_problems(verify_blobs(destination, [b for b in blobs if b[0] not in damaged]))
    if problems:
        raise click.ClickException(f"{problems} blobs are not in the new store as they should be; nothing was "
                                   "switched (run `appliance storage verify` on the old store, then again)")
    click.echo(f"verified: all {len(blobs)} blobs are in the new store with the bytes their digests name")
    if switch:
        moved = dataclasses.replace(bootstrap, storage_backend=target, storage_options=options)
        click.echo(f"{moved.write()} now uses the {target} store: restart the appliance (and point every other "
                   "node's appliance.toml at the same store)")
