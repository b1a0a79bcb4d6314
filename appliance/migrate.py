"""Applies the numbered migrations of the top-level `migrations` package, each once, in order."""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from peewee import CharField, DateTimeField, Model

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
    for name in names:
        if name not in applied:
            module = importlib.import_module(f"migrations.{name}")
            # One transaction per migration: a failure leaves the schema at the previous step.
            with db.atomic():
                module.upgrade(db)
                history.create(name=name)
            done.append(name)
        if name == target:
            break
    return done
