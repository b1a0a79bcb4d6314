"""The database connection: one proxy that every model binds to, opened from the bootstrap URL."""
from __future__ import annotations

from peewee import DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect

database = DatabaseProxy()

# WAL lets readers run beside the single writer; busy_timeout makes writers queue instead of failing.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 15000,
    "synchronous": "normal",
}


# A worker's threads share a pool of PostgreSQL connections; a request hands its connection back at its
# end instead of closing it, so each request does not pay for a new server connection.
POSTGRESQL_POOL = {"max_connections": 32, "stale_timeout": 300, "timeout": 30}


def open_database(url: str):
    """Bind the model proxy to the database at `url` (sqlite:///path or postgresql://...)."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        db = connect(url, pragmas=SQLITE_PRAGMAS)
    elif scheme in ("postgres", "postgresql"):
        db = connect(f"postgresql+pool://{rest}", **POSTGRESQL_POOL)
    else:
        db = connect(url)
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)
