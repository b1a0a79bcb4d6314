"""The `appliance` command as scripts use it: output on stdout, errors on stderr with a non-zero exit."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3

import pytest
from click.testing import CliRunner

from appliance import create_app
from appliance import packages as service
from appliance.accounts.service import check_password, find_account
from appliance.auth.permissions import Actor
from appliance.auth.tokens import find_token
from appliance.cli import main
from appliance.db import open_database
from appliance.models import Collaborator, OrganizationMember, Repository, Token
from appliance.models.base import utcnow
from appliance.packages import FileUpload, VersionDraft
from appliance.settings import SPECS, Bootstrap

TOKEN_LINE = re.compile(r"^  token \(all scopes, shown once\): (apt_\S+)$", re.MULTILINE)


def run(home, *args, input=None):
    return CliRunner().invoke(main, ["--home", str(home), *args], input=input)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def fails(result, phrase: str, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert phrase in result.stderr
    assert result.stdout == ""
    return result.stderr


def use_database(home) -> None:
    """Point the models at the appliance's database, to look at what a command did."""
    open_database(Bootstrap.load(home).database_url)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory):
    """One `appliance init` per module (hashing the admin's password is the slow part)."""
    home = tmp_path_factory.mktemp("template") / "home"
    ok(CliRunner().invoke(main, ["init", "--home", str(home)]))
    return Bootstrap.load(home)


@pytest.fixture
def home(initialised, tmp_path):
    """A home of its own for each test: a copy of the initialised one."""
    copy = Bootstrap.embedded_default(tmp_path / "home")
    copy = dataclasses.replace(copy, secret_key=initialised.secret_key)
    copy.storage_path.mkdir(parents=True)
    copy.write()
    source = sqlite3.connect(initialised.database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy.database_url.removeprefix("sqlite:///"))
    with source, target:
        source.backup(target)
    source.close()
    target.close()
    return copy.home


# ---- init ------------------------------------------------------------------------------------------


def test_init_prints_how_to_sign_in(tmp_path):
    home = tmp_path / "fresh"
    out = ok(CliRunner().invoke(main, ["init", "--home", str(home), "--hostname", "packages.example.com"]))

    assert f"Initialised the appliance in {home}" in out
    assert "URL:            http://packages.example.com:8080/" in out
    assert "site admin:     admin" in out
    # a first repository, then a configuration per format for this address, and last how to sign in
    assert f"--home {home} repos create admin/hello --visibility private" in out
    assert "@admin:registry=http://packages.example.com:8080/_registry/npm/" in out
    assert "export BUNDLE_PACKAGES__EXAMPLE__COM=admin:apt_" in out
    assert "docker://docker.packages.example.com:8080/admin/hello/app:1.0" in out
    assert out.splitlines()[-3:-1] == ["Sign in as the site admin at http://packages.example.com:8080/login",
                                       "  user:           admin"]
    password = re.search(r"^  password:       (\S+)$", out, re.MULTILINE).group(1)
    token = TOKEN_LINE.search(out).group(1)
    assert (home / "appliance.toml").exists() and (home / "storage").is_dir()

    use_database(home)
    admin = find_account("admin")
    assert admin.site_admin and check_password(admin, password)
    found = find_token(token)
    assert found.user_id == admin.id
    assert found.scope_set == {"read:packages", "write:packages", "delete:packages", "repo", "admin:org_hook"}


def test_init_with_another_admin_name(tmp_path):
    out = ok(CliRunner().invoke(main, ["init", "--home", str(tmp_path / "h"), "--admin", "root",
                                       "--bind", "0.0.0.0:9090"]))
    assert "site admin:     root" in out
    assert "URL:            http://localhost:9090/" in out
    assert "//localhost:9090/_registry/npm/:_authToken=apt_" in out


def test_a_second_init_refuses_and_changes_nothing(home):
    before = (home / "appliance.toml").read_text()
    fails(CliRunner().invoke(main, ["init", "--home", str(home)]), "already initialised")
    assert (home / "appliance.toml").read_text() == before
    use_database(home)
    assert Token.select().count() == 1


@pytest.mark.parametrize(("args", "phrase"), [
    (["--admin", "bad name"], "invalid name 'bad name'"),
    (["--hostname", "packages.example.com:8443"], "without scheme or port"),
])
def test_an_init_that_fails_can_be_run_again(tmp_path, args, phrase):
    home = tmp_path / "home"
    fails(CliRunner().invoke(main, ["init", "--home", str(home), *args]), phrase)
    assert not (home / "appliance.toml").exists()

    out = ok(CliRunner().invoke(main, ["init", "--home", str(home)]))
    assert "site admin:     admin" in out
    use_database(home)
    assert find_token(TOKEN_LINE.search(out).group(1)).user.login == "admin"


def test_init_honours_the_home_of_the_group_and_the_environment(tmp_path, monkeypatch):
    ok(CliRunner().invoke(main, ["--home", str(tmp_path / "a"), "init"]))
    assert (tmp_path / "a" / "appliance.toml").exists()
    monkeypatch.setenv("APPLIANCE_HOME", str(tmp_path / "b"))
    ok(CliRunner().invoke(main, ["init"]))
    assert (tmp_path / "b" / "appliance.toml").exists()


def test_commands_on_a_home_that_was_never_initialised(tmp_path):
    err = fails(run(tmp_path / "empty", "config", "list"), "does not exist")
    assert "appliance init --home" in err


# ---- users, organizations, repositories ------------------------------------------------------------


def test_users_create(home):
    out = ok(run(home, "users", "create", "bob", "--email", "bob@example.com", "--password-stdin",
                 input="s3cret pass\n"))
    assert out == "created user bob\n"
    use_database(home)
    bob = find_account("bob")
    assert (bob.email, bob.site_admin, bob.kind) == ("bob@example.com", False, "user")
    assert check_password(bob, "s3cret pass")


def test_users_create_a_site_admin_without_a_password(home):
    assert ok(run(home, "users", "create", "carol", "--site-admin")) == "created user carol (site admin)\n"
    use_database(home)
    carol = find_account("carol")
    assert carol.site_admin and carol.password_hash is None


def test_users_create_a_duplicate_name_fails(home):
    ok(run(home, "users", "create", "bob"))
    err = fails(run(home, "users", "create", "BOB"), "already taken")
    assert err.startswith("error: ")


@pytest.mark.parametrize(("args", "input", "phrase"), [
    (["users", "create", "bad name"], None, "invalid name 'bad name'"),
    (["users", "create", "-leading"], None, "No such option"),
    (["users", "create", "dave", "--password-stdin"], "\n", "no password on standard input"),
])
def test_users_create_refusals(home, args, input, phrase):
    result = run(home, *args, input=input)
    assert result.exit_code != 0
    assert phrase in result.stderr


def test_orgs_create_and_add_member(home):
    ok(run(home, "users", "create", "bob"))
    assert ok(run(home, "orgs", "create", "acme", "--owner", "admin")) == \
        "created organization acme, owned by admin\n"
    assert ok(run(home, "orgs", "add-member", "acme", "bob")) == "bob is now member of acme\n"
    assert ok(run(home, "orgs", "add-member", "acme", "bob", "--role", "owner")) == "bob is now owner of acme\n"

    use_database(home)
    acme = find_account("acme")
    assert acme.is_organization
    roles = {(m.user.login, m.role) for m in OrganizationMember.select().where(
        OrganizationMember.organization == acme.id)}
    assert roles == {("admin", "owner"), ("bob", "owner")}


@pytest.mark.parametrize(("args", "phrase", "code"), [
    (["orgs", "create", "acme", "--owner", "ghost"], "no user or organization named 'ghost'", 1),
    (["orgs", "create", "acme"], "Missing option '--owner'", 2),
    (["orgs", "create", "admin", "--owner", "admin"], "already taken", 1),
    (["orgs", "add-member", "admin", "admin"], "admin is a user, not an organization", 1),
    (["orgs", "add-member", "nope", "admin"], "no user or organization named 'nope'", 1),
    (["orgs", "add-member", "admin", "admin", "--role", "boss"], "Invalid value for '--role'", 2),
])
def test_orgs_refusals(home, args, phrase, code):
    result = run(home, *args)
    assert result.exit_code == code
    assert phrase in result.stderr


def test_an_organization_cannot_own_an_organization(home):
    ok(run(home, "orgs", "create", "acme", "--owner", "admin"))
    fails(run(home, "orgs", "create", "subsidiary", "--owner", "acme"), "acme is an organization, not a user")


def test_repos_create_and_grant(home):
    ok(run(home, "users", "create", "bob"))
    ok(run(home, "orgs", "create", "acme", "--owner", "admin"))
    assert ok(run(home, "repos", "create", "admin/tools")) == "created public repository admin/tools\n"
    assert ok(run(home, "repos", "create", "acme/secret", "--visibility", "private")) == \
        "created private repository acme/secret\n"
    assert ok(run(home, "repos", "grant", "acme/secret", "bob", "--role", "write")) == \
        "bob has write access to acme/secret\n"
    ok(run(home, "repos", "grant", "acme/secret", "bob", "--role", "admin"))

    use_database(home)
    secret = Repository.get(Repository.lower_name == "secret")
    assert (secret.owner.login, secret.visibility) == ("acme", "private")
    assert [(c.user.login, c.role) for c in Collaborator.select().where(Collaborator.repository == secret.id)] \
        == [("bob", "admin")]


@pytest.mark.parametrize(("args", "phrase", "code"), [
    (["repos", "create", "admin/x", "--visibility", "secret"], "Invalid value for '--visibility'", 2),
    (["repos", "create", "ghost/x"], "no user or organization named 'ghost'", 1),
    (["repos", "create", "no-slash"], "expected OWNER/NAME, got 'no-slash'", 1),
    (["repos", "create", "admin/a/b"], "expected OWNER/NAME", 1),
    (["repos", "create", "admin/bad name"], "invalid repository name 'bad name'", 1),
    (["repos", "grant", "admin/nope", "admin", "--role", "read"], "no repository admin/nope", 1),
    (["repos", "grant", "admin/tools", "ghost", "--role", "read"], "no user or organization named 'ghost'", 1),
    (["repos", "grant", "admin/tools", "admin", "--role", "owner"], "Invalid value for '--role'", 2),
    (["repos", "grant", "admin/tools", "admin"], "Missing option '--role'", 2),
])
def test_repos_refusals(home, args, phrase, code):
    ok(run(home, "repos", "create", "admin/tools"))
    result = run(home, *args)
    assert result.exit_code == code
    assert phrase in result.stderr


def test_repos_create_a_duplicate_fails(home):
    ok(run(home, "repos", "create", "admin/tools"))
    fails(run(home, "repos", "create", "admin/Tools"), "admin/Tools already exists")


# ---- tokens ----------------------------------------------------------------------------------------


def test_tokens_create_prints_the_token_alone(home):
    ok(run(home, "users", "create", "bob"))
    out = ok(run(home, "tokens", "create", "bob", "--scopes", "write:packages,read:packages", "--note", "ci"))

    assert re.fullmatch(r"apt_\S+\n", out)
    use_database(home)
    token = find_token(out.strip())
    assert token.user.login == "bob"
    assert token.scopes == "read:packages,write:packages"
    assert (token.note, token.expires_at, token.repository_id) == ("ci", None, None)


def test_the_printed_token_authenticates_against_the_appliance(home):
    ok(run(home, "users", "create", "bob"))
    secret = ok(run(home, "tokens", "create", "bob", "--scopes", "read:packages")).strip()

    client = create_app(home=home).test_client()
    answer = client.get("/-/whoami", headers={"Host": "npm.localhost", "Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200
    assert answer.get_json() == {"username": "bob"}
    wrong = client.get("/-/whoami", headers={"Host": "npm.localhost", "Authorization": "Bearer apt_wrong"})
    assert wrong.status_code == 401


def test_tokens_create_with_a_lifetime(home):
    before = utcnow()
    secret = ok(run(home, "tokens", "create", "admin", "--scopes", "read:packages", "--expires-in", "30d")).strip()
    use_database(home)
    expires_at = find_token(secret).expires_at
    assert before + dt.timedelta(days=30) <= expires_at <= utcnow() + dt.timedelta(days=30)


def test_tokens_create_for_one_repository(home):
    ok(run(home, "repos", "create", "admin/tools"))
    secret = ok(run(home, "tokens", "create", "admin", "--scopes", "write:packages",
                    "--repository", "admin/tools")).strip()
    use_database(home)
    assert find_token(secret).repository.full_name == "admin/tools"


@pytest.mark.parametrize(("args", "phrase", "code"), [
    (["--scopes", "admin:org"], "unknown scope 'admin:org'", 1),
    (["--scopes", "read:packages", "--expires-in", "1y"], "expected a duration like 30m, 12h, 30d or 4w", 1),
    (["--scopes", "read:packages", "--repository", "admin/nope"], "no repository admin/nope", 1),
    ([], "Missing option '--scopes'", 2),
])
def test_tokens_create_refusals(home, args, phrase, code):
    result = run(home, "tokens", "create", "admin", *args)
    assert result.exit_code == code
    assert phrase in result.stderr
    assert result.stdout == ""
    use_database(home)
    assert Token.select().count() == 1  # the one init made


def test_tokens_create_for_an_unknown_user_or_an_organization(home):
    fails(run(home, "tokens", "create", "ghost", "--scopes", "read:packages"), "no user or organization named")
    ok(run(home, "orgs", "create", "acme", "--owner", "admin"))
    fails(run(home, "tokens", "create", "acme", "--scopes", "read:packages"), "acme is an organization")


# ---- config ----------------------------------------------------------------------------------------


def test_config_list_shows_every_setting(home):
    lines = ok(run(home, "config", "list")).splitlines()
    assert [line.split(" = ")[0] for line in lines] == list(SPECS)
    assert 'hostname = "localhost"' in lines
    assert "subdomain_isolation = true" in lines
    assert "retention.deleted_days = 30" in lines


@pytest.mark.parametrize(("key", "printed"), [
    ("hostname", "localhost"),
    ("subdomain_isolation", "true"),
    ("retention.deleted_days", "30"),
    ("edition", "enterprise-server"),
    ("support_contact", ""),
])
def test_config_get(home, key, printed):
    assert ok(run(home, "config", "get", key)) == printed + "\n"


def test_config_set_then_get(home):
    assert ok(run(home, "config", "set", "hostname", "Packages.Example.com")) == \
        'hostname = "packages.example.com"\n'
    assert ok(run(home, "config", "get", "hostname")) == "packages.example.com\n"
    assert ok(run(home, "config", "set", "formats.npm.enabled", "off")) == "formats.npm.enabled = false\n"
    assert ok(run(home, "config", "get", "formats.npm.enabled")) == "false\n"
    assert 'hostname = "packages.example.com"' in ok(run(home, "config", "list")).splitlines()


@pytest.mark.parametrize(("args", "phrase"), [
    (["get", "no.such.key"], "unknown setting 'no.such.key'"),
    (["set", "no.such.key", "1"], "unknown setting 'no.such.key'"),
    (["set", "hostname", "example.com:8443"], "without scheme or port"),
    (["set", "anonymous_read", "sometimes"], "expected true or false"),
    (["set", "retention.deleted_days", "--", "-3"], "zero or more"),
    (["set", "edition", "team"], "expected one of enterprise-server, ae, cloud"),
])
def test_config_refusals(home, args, phrase):
    err = fails(run(home, "config", *args), phrase)
    assert err.startswith("error: ")
    assert ok(run(home, "config", "get", "hostname")) == "localhost\n"


def test_turning_subdomain_isolation_off_warns_that_docker_is_disabled(home):
    result = run(home, "config", "set", "subdomain_isolation", "false")
    assert ok(result) == "subdomain_isolation = false\n"
    assert "warning:" in result.stderr and "the Docker registry stops" in result.stderr
    assert "0 images become unreachable" in result.stderr

    back_on = run(home, "config", "set", "subdomain_isolation", "true")
    assert ok(back_on) == "subdomain_isolation = true\n"
    assert back_on.stderr == ""


# ---- packages --------------------------------------------------------------------------------------


def publish(home, name: str, version: str, repository: str) -> None:
    app = create_app(home=home)
    with app.app_context(), app.test_request_context():
        admin = find_account("admin")
        service.publish_version(
            Actor(user=admin), owner_login="admin", fmt="npm", name=name,
            draft=VersionDraft(version, {"name": name, "version": version}),
            uploads=[FileUpload(f"{name}-{version}.tgz", [f"{name} {version}".encode()])],
            repository_name=repository, default_repository_name=name)


def test_packages_list(home):
    assert ok(run(home, "packages", "list")) == ""
    ok(run(home, "repos", "create", "admin/tools"))
    ok(run(home, "users", "create", "bob"))
    ok(run(home, "repos", "create", "bob/bobs"))
    publish(home, "lint", "1.0.0", "tools")
    publish(home, "lint", "1.1.0", "tools")
    publish(home, "format", "0.1.0", "tools")

    assert ok(run(home, "packages", "list")).splitlines() == [
        "npm\tformat\tadmin/tools\t1 versions",
        "npm\tlint\tadmin/tools\t2 versions",
    ]
    assert ok(run(home, "packages", "list", "--owner", "ADMIN", "--format", "npm")).count("\n") == 2
    assert ok(run(home, "packages", "list", "--owner", "bob")) == ""
    assert ok(run(home, "packages", "list", "--format", "maven")) == ""
    result = run(home, "packages", "list", "--format", "pypi")
    assert result.exit_code == 2 and "Invalid value for '--format'" in result.stderr


# ---- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    [], ["init"], ["serve"], ["migrate"], ["config"], ["config", "list"], ["config", "get"],
    ["config", "set"], ["users", "create"], ["orgs", "create"], ["orgs", "add-member"], ["repos", "create"],
    ["repos", "grant"], ["tokens", "create"], ["packages", "list"], ["jobs", "list"], ["jobs", "run"],
])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")


def test_scheduler_once_runs_the_cleanup_and_leaves_a_held_job_to_its_holder(home):
    from appliance.jobs.leases import acquire
    from appliance.models import PackageVersion

    ok(run(home, "repos", "create", "admin/tools"))
    publish(home, "tool", "1.0.0", repository="tools")
    publish(home, "tool", "1.1.0", repository="tools")
    use_database(home)
    PackageVersion.update(deleted_at=utcnow() - dt.timedelta(days=31)).where(
        PackageVersion.version == "1.0.0").execute()

    cleanup, usage, _ = ok(run(home, "scheduler", "--once")).splitlines()
    assert cleanup == (
        "storage_cleanup: purged 0 deleted packages and 1 deleted versions, dropped 0 abandoned uploads, "
        "unstaged 0 unused blobs, removed 0 unreferenced blobs and 0 leftover files, aborted 0 unfinished "
        "multipart uploads")
    assert usage.startswith("storage_usage: npm: 1 files, ")
    assert [v.version for v in PackageVersion.select()] == ["1.1.0"]

    use_database(home)
    assert acquire("storage_cleanup", "another-node", dt.timedelta(minutes=5))
    assert ok(run(home, "scheduler", "--once")).splitlines()[0] == (
        "storage_cleanup: skipped, another scheduler holds it")


def test_jobs_list_shows_each_job_and_its_last_run_and_jobs_run_runs_one(home):
    listed = ok(run(home, "jobs", "list")).splitlines()
    assert listed == ["storage_cleanup\tevery 1h\tnever run", "storage_usage\tevery 5m\tnever run",
                      "webhook_deliveries\tevery 2s\tnever run"]

    assert ok(run(home, "jobs", "run", "storage_usage")).startswith("storage_usage: npm: 0 files, 0 bytes")
    usage = ok(run(home, "jobs", "list")).splitlines()[1].split("\t")
    assert usage[:2] == ["storage_usage", "every 5m"]
    assert re.fullmatch(r"last \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(\d+\.\d s, succeeded\)", usage[2])
    assert usage[3].startswith("next ")
    assert usage[4] == "1 runs, 0 failed"
    assert usage[5].startswith("npm: 0 files, 0 bytes")

    fails(run(home, "jobs", "run", "backup"), "no job named 'backup' here; the jobs are storage_cleanup, "
                                              "storage_usage, webhook_deliveries")


def test_packages_delete_and_restore_a_version_and_a_package(home):
    ok(run(home, "repos", "create", "admin/tools"))
    publish(home, "tool", "1.0.0", repository="tools")
    publish(home, "tool", "1.1.0", repository="tools")

    assert ok(run(home, "packages", "delete", "admin", "npm", "tool", "--version", "1.0.0", "--as", "admin")) == (
        "deleted npm tool 1.0.0\n")
    assert ok(run(home, "packages", "list")) == "npm\ttool\tadmin/tools\t1 versions\n"
    fails(run(home, "packages", "delete", "admin", "npm", "tool", "--version", "1.0.0", "--as", "admin"),
          "has no version 1.0.0")
    assert ok(run(home, "packages", "restore", "admin", "npm", "tool", "--version", "1.0.0", "--as", "admin")) == (
        "restored npm tool 1.0.0\n")
    assert ok(run(home, "packages", "list")) == "npm\ttool\tadmin/tools\t2 versions\n"
    fails(run(home, "packages", "restore", "admin", "npm", "tool", "--version", "1.1.0", "--as", "admin"),
          "is not deleted")

    assert ok(run(home, "packages", "delete", "admin", "npm", "tool", "--as", "admin")) == "deleted npm tool\n"
    assert ok(run(home, "packages", "list")) == ""
    assert ok(run(home, "packages", "restore", "admin", "npm", "tool", "--as", "admin")) == "restored npm tool\n"
    assert ok(run(home, "packages", "list")) == "npm\ttool\tadmin/tools\t2 versions\n"


def test_packages_delete_and_restore_follow_the_permission_rules(home):
    ok(run(home, "repos", "create", "admin/tools", "--visibility", "private"))
    ok(run(home, "users", "create", "bob"))
    ok(run(home, "users", "create", "carol"))
    ok(run(home, "repos", "grant", "admin/tools", "bob", "--role", "write"))
    publish(home, "tool", "1.0.0", repository="tools")

    fails(run(home, "packages", "delete", "admin", "npm", "tool", "--as", "bob"),
          "bob needs admin access to admin/tools")
    fails(run(home, "packages", "delete", "admin", "npm", "tool", "--as", "carol"), "not found")
    fails(run(home, "packages", "delete", "admin", "npm", "nothing", "--as", "admin"),
          "admin has no npm package nothing")
    ok(run(home, "repos", "grant", "admin/tools", "bob", "--role", "admin"))
    assert ok(run(home, "packages", "delete", "admin", "npm", "tool", "--as", "bob")) == "deleted npm tool\n"
    assert ok(run(home, "packages", "restore", "admin", "npm", "tool", "--as", "bob")) == "restored npm tool\n"


def test_tokens_list_and_revoke(home):
    ok(run(home, "users", "create", "bob"))
    secret = ok(run(home, "tokens", "create", "bob", "--scopes", "read:packages", "--note", "laptop")).strip()
    use_database(home)
    token_id = find_token(secret).id

    lines = ok(run(home, "tokens", "list", "bob")).splitlines()
    assert lines[0].split("\t")[:4] == ["ID", "USER", "STATE", "SCOPES"]
    assert [line.split("\t")[:4] for line in lines[1:]] == [[str(token_id), "bob", "active", "read:packages"]]
    assert lines[1].endswith("\tlaptop") and secret not in "".join(lines)
    everyone = ok(run(home, "tokens", "list")).splitlines()[1:]
    assert {line.split("\t")[1] for line in everyone} == {"admin", "bob"}

    assert ok(run(home, "tokens", "revoke", str(token_id))) == f"revoked token {token_id} of bob\n"
    use_database(home)
    assert find_token(secret) is None
    assert ok(run(home, "tokens", "list", "bob")).splitlines()[1].split("\t")[2] == "revoked"
    fails(run(home, "tokens", "revoke", "999"), "no token 999")
    fails(run(home, "tokens", "list", "ghost"), "no user or organization named")


def test_billing_limit_and_show_are_the_consoles_other_face(home):
    ok(run(home, "orgs", "create", "acme", "--owner", "admin"))
    fails(run(home, "billing", "limit", "acme", "10"), "the enterprise-server edition has no billing")
    ok(run(home, "config", "set", "edition", "cloud"))
    assert ok(run(home, "billing", "limit", "acme", "12.50")) == "acme's spending limit is $12.50 a month\n"
    shown = ok(run(home, "billing", "show", "acme"))
    assert "limit\t$12.50\n" in shown and "transfer\t0 bytes of 1.00 GB included\n" in shown
    assert ok(run(home, "billing", "limit", "acme", "default")) == \
        "acme's spending limit is $0.00 a month (the default)\n"
    fails(run(home, "billing", "limit", "acme", "ten"), "a spending limit is an amount in dollars")
    fails(run(home, "billing", "show", "ghost"), "no user or organization named 'ghost'")

    from appliance.models.audit import AuditEvent

    use_database(home)
    changes = [(e.actor_login.startswith("cli:"), e.target, e.data) for e in AuditEvent.select().where(
        AuditEvent.action == "billing.spending_limit").order_by(AuditEvent.id)]
    assert changes == [(True, "org:acme", '{"before": null, "after": 1250}'),
                       (True, "org:acme", '{"before": 1250, "after": null}')]
