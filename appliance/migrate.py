"""Applies the numbered migrations of the top-level `migrations` package, each once, in order."""
from __future__ import annotations

import importlib
import pkgutil
from contextlib import contextmanager
from dataclasses import dataclass

from peewee import CharField, DateTimeField, Model, SqliteDatabase

import migrations
from appliance.models.base import utcnow


@dataclass(frozen=True)
class MigrationStatus:
    name: str
    applied: bool


def _history_model(db):
    class SchemaMigration(Model):
        name = CharField(max_length=255, primary_key=True)
        applied_at = DateTimeField(default=utcnow)

        class Meta:
            database = db
            table_name = "schema_migrations"

    return SchemaMigration


def available_migrations() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(migrations.__path__) if m.name[:4].isdigit()]
    return sorted(names)


def migration_status(db) -> list[MigrationStatus]:
    history = _history_model(db)
    applied = {row.name for row in history.select()} if history.table_exists() else set()
    return [MigrationStatus(name, name in applied) for name in available_migrations()]


class MigrationNotFound(ValueError):
    """`migrate --to NAME` naming no migration there is."""


def migrate(db, target: str | None = None) -> list[str]:
    """Apply pending migrations up to and including `target` (default: all). Returns the names applied."""
    names = available_migrations()
    if target is not None and target not in names:
        raise MigrationNotFound(f"no migration named {target!r}; there are {', '.join(names)}")
    history = _history_model(db)
    history.create_table(safe=True)
    applied = {row.name for row in history.select()}
    done = []
    with _foreign_keys_checked_at_commit(db):
        for name in names:
            if name not in applied:
                module = importlib.import_module(f"migrations.{name}")
                # One transaction per migration: a failure leaves the schema at the previous step.
                with db.atomic():
                    module.upgrade(db)
                    _check_foreign_keys(db, name)
                    history.create(name=name)
                done.append(name)
            if name == target:
                break
    return done


class ForeignKeyViolation(RuntimeError):
    """A migration left rows that refer to rows that are not there (SQLite); it was rolled back."""


@contextmanager
def _foreign_keys_checked_at_commit(db):
    """SQLite changes a column by copying the table into a new one and dropping the old (the migrator's
    add_column NOT NULL, alter_column_type, ...): with foreign keys enforced, that drop deletes every row
    that refers to the table (ON DELETE CASCADE took package files, tags and download counts with
    migration 0015). As SQLite's manual says for such changes, they are off while migrations run and
    checked before each commits instead. The pragma holds for the connection, outside a transaction."""
    if not isinstance(db, SqliteDatabase):
        yield
        return
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


def _check_foreign_keys(db, name: str) -> None:
    if isinstance(db, SqliteDatabase):
        broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise ForeignKeyViolation(f"{name} left {len(broken)} rows referring to missing rows, first in the "
                                      f"table {broken[0][0]}; nothing of it was applied")
