"""The database engine the tests run on: SQLite files (the default) or PostgreSQL databases with random
names, made for each appliance the tests start and dropped after, so that several test runs on one
machine never meet.

`APPLIANCE_TEST_DATABASE=postgresql` picks PostgreSQL (`scripts/test.sh` runs the suite once per engine
of `APPLIANCE_TEST_DATABASES`); `APPLIANCE_TEST_POSTGRESQL` is the server's maintenance URL
(default `postgresql://postgres@127.0.0.1:5432/postgres`). A database at the head of the migrations is
made once per test process and copied (`CREATE DATABASE ... TEMPLATE`), which is much quicker than
migrating each one.
"""
from __future__ import annotations

import atexit
import dataclasses
import os
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from appliance.settings import Bootstrap

ENGINES = ("sqlite", "postgresql")
ENGINE = os.environ.get("APPLIANCE_TEST_DATABASE", "sqlite")
if ENGINE not in ENGINES:
    raise RuntimeError(f"APPLIANCE_TEST_DATABASE={ENGINE!r}: expected one of {', '.join(ENGINES)}")
SERVER_URL = os.environ.get("APPLIANCE_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/postgres")

_made: list[str] = []
_template: str | None = None
_lock = threading.Lock()


def _url_of(name: str) -> str:
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))


def _admin(statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(SERVER_URL)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def create_postgresql_database(*, migrated: bool = True) -> str:
    """A new, empty PostgreSQL database (at the head of the migrations unless `migrated=False`),
    dropped when the test process ends; returns its URL."""
    global _template
    name = f"appliance_test_{uuid.uuid4().hex[:16]}"
    with _lock:
        if migrated and _template is None:
            template = f"appliance_template_{uuid.uuid4().hex[:16]}"
            _admin(f"CREATE DATABASE {template}")
            _made.append(template)
            _migrate(_url_of(template))
            _template = template
        _admin(f"CREATE DATABASE {name} TEMPLATE {_template}" if migrated else f"CREATE DATABASE {name}")
        _made.append(name)
    return _url_of(name)


def _migrate(url: str) -> None:
    from peewee import PostgresqlDatabase

    from appliance.migrate import migrate

    parts = urlsplit(url)
    db = PostgresqlDatabase(parts.path.lstrip("/"), host=parts.hostname, port=parts.port or 5432,
                            user=parts.username, password=parts.password)
    try:
        migrate(db)
    finally:
        db.close()


def drop_database(url: str) -> None:
    """Drop a database made here (whoever is still connected); SQLite files go with their directory."""
    if not url.startswith("postgres"):
        return
    name = urlsplit(url).path.lstrip("/")
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    with _lock:
        if name in _made:
            _made.remove(name)


def database_url_for_tests(home: Path, *, migrated: bool = True) -> str:
    """Where a test appliance in `home` keeps its data, on the engine this run tests."""
    if ENGINE == "postgresql":
        return create_postgresql_database(migrated=migrated)
    return f"sqlite:///{Path(home) / 'appliance.db'}"


def bootstrap_for_tests(home: Path) -> Bootstrap:
    """Bootstrap.embedded_default, with the database on the engine this run tests."""
    boot = Bootstrap.embedded_default(Path(home))
    return dataclasses.replace(boot, database_url=database_url_for_tests(Path(home)))


@atexit.register
def drop_every_database() -> None:
    """Drops what this process made (the template last, as copies came from it)."""
    for name in reversed(list(_made)):
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _made.clear()
