"""Schema migrations: data written under the first schema survives every later one, each migration is
applied once and atomically, and the CLI refuses to work on a database that is behind."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
import textwrap

import pytest
from click.testing import CliRunner
from peewee import IntegrityError

import migrations
from appliance.cli import main
from appliance.db import open_database
from appliance.migrate import MigrationStatus, available_migrations, migrate, migration_status
from appliance.models import (
    ALL_MODELS,
    Account,
    Blob,
    Collaborator,
    OrganizationMember,
    Package,
    PackageFile,
    PackageTag,
    PackageVersion,
    Repository,
    Setting,
    Token,
)
from appliance.settings import Bootstrap
from tests.support.databases import database_url_for_tests, drop_database

FIRST = "0001_accounts"
TABLES_0001 = ["account", "organization_member", "repository", "collaborator", "token", "setting"]
T0 = dt.datetime(2023, 5, 17, 9, 30, 12, 345678)


@pytest.fixture
def db(tmp_path):
    """An empty database on the engine this run tests (tests/support/databases.py)."""
    url = database_url_for_tests(tmp_path, migrated=False)
    db = open_database(url)
    yield db
    getattr(db, "close_all", db.close)()
    drop_database(url)


def history(db) -> list[str]:
    return [row[0] for row in db.execute_sql("SELECT name FROM schema_migrations ORDER BY name").fetchall()]


def snapshot(db, tables, like: dict | None = None) -> dict[str, list[dict]]:
    """Every row of `tables` as a dict; with `like` (an earlier snapshot), only the columns it had, as a
    later migration may add columns to a table."""
    result = {}
    for table in tables:
        cursor = db.execute_sql(f"SELECT * FROM {table} ORDER BY 1")
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        if like is not None and like[table]:
            kept = like[table][0].keys()
            rows = [{k: row[k] for k in kept} for row in rows]
        result[table] = rows
    return result


FIRST_ACCOUNT_COLUMNS = ("login", "lower_login", "kind", "email", "password_hash", "site_admin", "suspended",
                         "created_at")


def first_account(**values) -> Account:
    """An account row of the 0001 shape, in SQL: the model would also write the columns later migrations
    add (with their defaults), which 0001 lacks."""
    row = {name: values.get(name, Account._meta.fields[name].default) for name in FIRST_ACCOUNT_COLUMNS}
    row["kind"] = values.get("kind", "user")
    db = Account._meta.database
    marks = ", ".join([db.param] * len(row))
    # RETURNING, not lastrowid: psycopg2's lastrowid is an OID, 0 on PostgreSQL tables.
    cursor = db.execute_sql(f"INSERT INTO account ({', '.join(row)}) VALUES ({marks}) RETURNING id",
                            [Account._meta.fields[n].db_value(v) for n, v in row.items()])
    return Account(id=cursor.fetchone()[0], **row)


def fill_first_schema() -> dict:
    """Rows in every table of 0001, with every column given a value that is not its default."""
    alice = first_account(login="Alice", lower_login="alice", kind="user", email="alice@example.com",
                           password_hash="scrypt:32768:8:1$salt$abc", site_admin=True, suspended=False,
                           created_at=T0)
    bob = first_account(login="bob", lower_login="bob", kind="user", email=None, password_hash=None,
                         site_admin=False, suspended=True, created_at=T0 + dt.timedelta(seconds=1))
    acme = first_account(login="Acme", lower_login="acme", kind="organization", created_at=T0)
    OrganizationMember.create(organization=acme, user=alice, role="owner", created_at=T0)
    OrganizationMember.create(organization=acme, user=bob, role="member", created_at=T0)
    hello = Repository.create(owner=alice, name="Hello", lower_name="hello", visibility="private",
                              description="says hello ☺", created_at=T0)
    tools = Repository.create(owner=acme, name="tools", lower_name="tools", visibility="internal",
                              description="", created_at=T0)
    Collaborator.create(repository=hello, user=bob, role="write", created_at=T0)
    Collaborator.create(repository=tools, user=bob, role="admin", created_at=T0)
    Token.create(user=alice, token_hash="a" * 64, scopes="read:packages,write:packages", note="ci",
                 repository=None, expires_at=T0 + dt.timedelta(days=30), last_used_at=T0, created_at=T0,
                 revoked_at=None)
    Token.create(user=bob, token_hash="b" * 64, scopes="read:packages", note="", repository=tools,
                 expires_at=None, last_used_at=None, created_at=T0, revoked_at=T0 + dt.timedelta(hours=1))
    Setting.create(key="hostname", value='"packages.example.com"', updated_at=T0)
    return {"alice": alice, "hello": hello}


def test_data_written_under_the_first_schema_survives_migrating_to_head(db):
    assert migrate(db, target=FIRST) == [FIRST]
    assert history(db) == [FIRST]
    assert "package" not in db.get_tables()
    fill_first_schema()
    before = snapshot(db, TABLES_0001)
    assert all(before[t] for t in TABLES_0001)

    applied = migrate(db)

    assert applied == available_migrations()[1:]
    assert history(db) == available_migrations()
    assert snapshot(db, TABLES_0001, like=before) == before
    # Read back through the live models too: types and values come out as they went in.
    alice = Account.get(Account.lower_login == "alice")
    assert (alice.login, alice.email, alice.site_admin, alice.created_at) == ("Alice", "alice@example.com",
                                                                              True, T0)
    assert Account.get(Account.lower_login == "bob").suspended is True
    token = Token.get(Token.token_hash == "b" * 64)
    assert token.repository.name == "tools" and token.revoked_at == T0 + dt.timedelta(hours=1)
    assert Setting.get_by_id("hostname").value == '"packages.example.com"'


def test_the_tables_added_after_the_first_schema_work_with_old_rows(db):
    migrate(db, target=FIRST)
    rows = fill_first_schema()
    migrate(db)

    blob = Blob.create(sha256="c" * 64, size=42, sha1="d" * 40, sha512="e" * 128)
    package = Package.create(owner=rows["alice"], repository=rows["hello"], format="npm", name="@alice/hello",
                             lower_name="@alice/hello")
    version = PackageVersion.create(package=package, version="1.0.0", lower_version="1.0.0",
                                    metadata='{"name": "@alice/hello"}', published_by=rows["alice"])
    PackageFile.create(version=version, name="hello-1.0.0.tgz", lower_name="hello-1.0.0.tgz", blob=blob)
    PackageTag.create(package=package, name="latest", version=version)

    found = PackageFile.select(PackageFile, Blob).join(Blob).where(PackageFile.version == version.id).get()
    assert found.blob.sha256 == "c" * 64
    assert package.repository.owner.login == "Alice"
    # The new tables' constraints came with them.
    with pytest.raises(IntegrityError):
        PackageVersion.create(package=package, version="1.0.0", lower_version="1.0.0")
    with pytest.raises(IntegrityError):
        PackageFile.create(version=version, name="x.tgz", lower_name="x.tgz", blob=999_999)


def test_the_migrated_schema_has_every_column_and_index_of_the_models(db):
    migrate(db)
    for model in ALL_MODELS:
        table = model._meta.table_name
        columns = {c.name for c in db.get_columns(table)}
        assert columns == {f.column_name for f in model._meta.sorted_fields}, table
        indexes = db.get_indexes(table)
        for fields, is_unique in model._meta.indexes:
            names = tuple(model._meta.fields[f].column_name for f in fields)
            # A model's index that no migration made is a query plan the tests never ran on.
            assert names in {tuple(i.columns) for i in indexes if i.unique or not is_unique}, (table, names)


def test_migrate_is_idempotent(db):
    assert migrate(db) == available_migrations()
    stamps = db.execute_sql("SELECT name, applied_at FROM schema_migrations ORDER BY name").fetchall()

    assert migrate(db) == []
    assert db.execute_sql("SELECT name, applied_at FROM schema_migrations ORDER BY name").fetchall() == stamps


def test_an_unknown_target_is_refused_before_anything_is_applied(db):
    with pytest.raises(ValueError, match="no migration named '0001_acounts'"):
        migrate(db, target="0001_acounts")
    assert db.get_tables() == []


def test_migration_status_reports_applied_and_pending(db):
    names = available_migrations()
    assert len(names) >= 2 and names[0] == FIRST
    # A brand-new database: everything pending, and asking does not create anything.
    assert migration_status(db) == [MigrationStatus(n, False) for n in names]
    assert "schema_migrations" not in db.get_tables()

    migrate(db, target=FIRST)
    assert migration_status(db) == [MigrationStatus(FIRST, True)] + [MigrationStatus(n, False) for n in names[1:]]

    migrate(db)
    assert migration_status(db) == [MigrationStatus(n, True) for n in names]


@contextlib.contextmanager
def extra_migration(tmp_path, monkeypatch, name: str, source: str):
    """A migration `name` after the real ones, whose module is `source`."""
    extra = tmp_path / "extra_migrations"
    extra.mkdir()
    (extra / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.setattr(migrations, "__path__", [*migrations.__path__, str(extra)])
    monkeypatch.delitem(sys.modules, f"migrations.{name}", raising=False)
    try:
        yield name
    finally:
        sys.modules.pop(f"migrations.{name}", None)


@pytest.fixture
def broken_migration(tmp_path, monkeypatch):
    """A migration after the real ones that creates a table, writes a row, then fails."""
    with extra_migration(tmp_path, monkeypatch, "9999_broken", """
        def upgrade(db):
            db.execute_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
            db.execute_sql("INSERT INTO half_done (id) VALUES (1)")
            db.execute_sql("UPDATE setting SET value = '\\"changed\\"'")
            raise RuntimeError("the migration broke half-way")
    """) as name:
        yield name


def test_a_failing_migration_rolls_back_and_leaves_the_history_unchanged(db, broken_migration):
    assert available_migrations()[-1] == broken_migration
    migrate(db, target=FIRST)
    Setting.create(key="hostname", value='"before"', updated_at=T0)

    with pytest.raises(RuntimeError, match="broke half-way"):
        migrate(db)

    # The migrations before it went in, each in its own transaction; the broken one left no trace.
    assert history(db) == available_migrations()[:-1]
    assert "half_done" not in db.get_tables()
    assert Setting.get_by_id("hostname").value == '"before"'
    assert migration_status(db)[-1] == MigrationStatus(broken_migration, False)

    with pytest.raises(RuntimeError):
        migrate(db)
    assert history(db) == available_migrations()[:-1]


# ---- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def old_home(tmp_path):
    """An appliance home whose database stopped at the first migration."""
    boot = dataclasses.replace(Bootstrap.embedded_default(tmp_path / "home"),
                               database_url=database_url_for_tests(tmp_path, migrated=False))
    boot.storage_path.mkdir(parents=True)
    boot.write()
    db = open_database(boot.database_url)
    migrate(db, target=FIRST)
    getattr(db, "close_all", db.close)()
    return boot.home


def run(home, *args, **kwargs):
    return CliRunner().invoke(main, ["--home", str(home), *args], **kwargs)


def test_cli_migrate_status_lists_applied_and_pending(old_home):
    result = run(old_home, "migrate", "--status")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["applied", FIRST]
    assert [line.split() for line in lines[1:]] == [["pending", n] for n in available_migrations()[1:]]


@pytest.mark.parametrize("command", [
    ["config", "list"],
    ["config", "get", "hostname"],
    ["config", "set", "hostname", "example.com"],
    ["users", "create", "carol"],
    ["tokens", "create", "carol", "--scopes", "read:packages"],
    ["packages", "list"],
])
def test_commands_refuse_to_run_on_a_database_with_pending_migrations(old_home, command):
    result = run(old_home, *command)

    assert result.exit_code == 1
    assert "needs migrations" in result.stderr
    assert available_migrations()[1] in result.stderr
    assert "appliance migrate" in result.stderr
    assert result.stdout == ""


def test_cli_migrate_brings_the_database_up_to_date_and_commands_work_again(old_home, monkeypatch):
    monkeypatch.setenv("APPLIANCE_HOME", str(old_home))
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"applied {n}" for n in available_migrations()[1:]]

    again = CliRunner().invoke(main, ["migrate"])
    assert again.exit_code == 0 and again.stdout.strip() == "the schema is up to date"

    status = CliRunner().invoke(main, ["migrate", "--status"])
    assert all(line.startswith("applied") for line in status.stdout.splitlines())
    listed = CliRunner().invoke(main, ["config", "get", "hostname"])
    assert listed.exit_code == 0 and listed.stdout.strip() == "localhost"


def test_search_fields_are_filled_for_versions_published_before_them(db):
    migrate(db, target="0009_jobs_and_directory")
    rows = fill_first_schema()
    param = db.param
    for fmt, name, metadata in (
            ("nuget", "Json.Kit", ('{"title": "Json Kit", "tags": ["JSON", "fast"], "authors": "Ann, Bo",'
                                   ' "description": "Reads JSON"}')),
            ("npm", "@alice/hello", '{"keywords": ["Greeting"], "author": {"name": "Alice A"}}'),
            ("rubygems", "broken", "not json")):
        db.execute_sql("INSERT INTO package (owner_id, repository_id, format, name, lower_name, created_at, "
                       f"updated_at) VALUES ({param}, {param}, {param}, {param}, {param}, {param}, {param})",
                       (rows["alice"].id, rows["hello"].id, fmt, name, name.lower(), T0, T0))
        package_id = db.execute_sql(f"SELECT id FROM package WHERE name = {param}", (name,)).fetchone()[0]
        db.execute_sql("INSERT INTO package_version (package_id, version, lower_version, metadata, summary, "
                       f"created_at, updated_at) VALUES ({param}, '1.0', '1.0', {param}, 'a summary', {param}, "
                       f"{param})", (package_id, metadata, T0, T0))
    migrate(db)
    fields = {v.package.name: (v.search_title, v.search_description, v.search_keywords, v.search_authors)
              for v in PackageVersion.select()}
    assert fields == {"Json.Kit": ("json kit", "reads json", " json fast ", "ann, bo"),
                      "@alice/hello": ("", "a summary", " greeting ", "alice a"),
                      "broken": ("", "a summary", "", "")}


def _insert(db, table: str, **values) -> int:
    """A row written in SQL, as the schema of the time had it; its id."""
    marks = ", ".join([db.param] * len(values))
    db.execute_sql(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})", tuple(values.values()))
    return db.execute_sql(f"SELECT MAX(id) FROM {table}").fetchone()[0]


def test_files_tags_and_downloads_survive_the_migrations_that_change_package_version(db):
    """0015 adds NOT NULL columns to package_version, which SQLite does by copying the table and dropping
    the old one: the drop used to cascade to every file, tag and download count. 0017 fills each
    version's download total from the per-day rows."""
    migrate(db, target="0014_oci_digests_and_upload_writes")
    rows = fill_first_schema()
    package = _insert(db, "package", owner_id=rows["alice"].id, repository_id=rows["hello"].id, format="npm",
                      name="hello", lower_name="hello", created_at=T0, updated_at=T0)
    versions = [_insert(db, "package_version", package_id=package, version=v, lower_version=v, metadata="{}",
                        summary="", created_at=T0, updated_at=T0) for v in ("1.0.0", "2.0.0")]
    blob = _insert(db, "blob", sha256="a" * 64, size=3, created_at=T0)
    for version in versions:
        _insert(db, "package_file", version_id=version, name="hello.tgz", lower_name="hello.tgz", blob_id=blob,
                content_type="application/gzip", created_at=T0)
    _insert(db, "package_tag", package_id=package, name="latest", version_id=versions[1], updated_at=T0)
    for day, count in ((dt.date(2024, 1, 1), 5), (dt.date(2024, 1, 2), 7)):
        _insert(db, "download_count", version_id=versions[0], day=day, count=count)

    migrate(db)

    assert PackageFile.select().count() == 2 and PackageTag.get().version_id == versions[1]
    assert {v.version: v.downloads for v in PackageVersion.select()} == {"1.0.0": 12, "2.0.0": 0}
    assert db.execute_sql("SELECT SUM(count) FROM download_count").fetchone()[0] == 12


@pytest.fixture
def dangling_migration(tmp_path, monkeypatch):
    """A migration after the real ones that leaves a file pointing at a version that is not there."""
    with extra_migration(tmp_path, monkeypatch, "9999_dangling", """
        def upgrade(db):
            db.execute_sql("UPDATE package_file SET version_id = 999999")
    """) as name:
        yield name


def test_a_migration_that_breaks_a_reference_is_rolled_back(db, dangling_migration):
    """SQLite runs migrations without enforcing foreign keys (see above), and checks them before each
    commits instead; PostgreSQL refuses the statement itself."""
    migrate(db, target=available_migrations()[-2])
    rows = fill_first_schema()
    package = Package.create(owner=rows["alice"], repository=rows["hello"], format="npm", name="a", lower_name="a")
    version = PackageVersion.create(package=package, version="1.0.0", lower_version="1.0.0")
    blob = Blob.create(sha256="b" * 64, size=1)
    PackageFile.create(version=version, name="a.tgz", lower_name="a.tgz", blob=blob)

    with pytest.raises((IntegrityError, RuntimeError)):
        migrate(db)

    assert history(db) == available_migrations()[:-1]
    assert PackageFile.get().version_id == version.id
    # Foreign keys are enforced again once migrations are over.
    with pytest.raises(IntegrityError):
        PackageFile.create(version=999_999, name="b.tgz", lower_name="b.tgz", blob=blob)
