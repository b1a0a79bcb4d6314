"""The database connection: one proxy that every model binds to, opened from the bootstrap URL."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from peewee import DatabaseProxy, SqliteDatabase, Value
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


# Compiled shapes a Statement keeps at most; past it, it starts again (compiling is what it saves, not
# what it needs).
MAX_SHAPES = 256


class Slot:
    """A value left open when a Statement is compiled: the `index`th argument of a run (`item`: its
    place in that argument's list, for `IN`)."""

    __slots__ = ("index", "item")

    def __init__(self, index: int, item: int | None = None):
        self.index, self.item = index, item


class Statement:
    """A query whose SQL is compiled once per engine and shape, then run with each call's values.

    Compiling a peewee query costs more CPU than SQLite takes to run it: about a millisecond of a page's
    four. `build(*arguments)` gets each argument as a node to put where the value goes (a list argument:
    a node for `IN`), and must take nothing else from outside: whatever it reads besides its arguments
    is compiled into the SQL for every later run. The shape is the engine and each list argument's length.
    With `variants=True`, `build(variant, *arguments)` also gets the call's `variant`: a hashable naming
    which of several queries to build (a listing's filters), part of the shape as well.
    """

    def __init__(self, build: Callable[..., Any], *, variants: bool = False):
        self._build = build
        self._variants = variants
        self._compiled: dict[tuple, tuple[str, list, Any]] = {}

    def _compile(self, shape: tuple, values: Sequence, variant) -> tuple[str, list, Any]:
        arguments = [Value([Slot(index, item) for item in range(len(value))], converter=False)
                     if isinstance(value, (list, tuple)) else Value(Slot(index), converter=False)
                     for index, value in enumerate(values)]
        query = self._build(variant, *arguments) if self._variants else self._build(*arguments)
        sql, params = database.get_sql_context().sql(query).query()
        if not self._variants and values and not any(isinstance(p, Slot) for p in params):
            raise ValueError(f"{self._build.__name__} used none of its arguments")
        if len(self._compiled) >= MAX_SHAPES:
            # Shapes come from list lengths (a user's collaborations): bounded, but not by us.
            self._compiled.clear()
        self._compiled[shape] = compiled = (sql, params, query)  # two threads of one shape store the same
        return compiled

    def _run(self, values: Sequence, variant):
        shape = (type(database.obj), variant, *(len(v) if isinstance(v, (list, tuple)) else -1 for v in values))
        compiled = self._compiled.get(shape)
        sql, params, query = compiled if compiled is not None else self._compile(shape, values, variant)
        cursor = database.execute_sql(sql, [
            (values[p.index] if p.item is None else values[p.index][p.item]) if isinstance(p, Slot) else p
            for p in params])
        return cursor, query

    def execute(self, *values, variant=None):
        """The cursor of this statement run with `values` (a list or tuple for an `IN` argument)."""
        return self._run(values, variant)[0]

    def rows(self, *values, variant=None) -> list:
        """The rows as the built query gives them (model instances with their joins, dicts, tuples)."""
        cursor, query = self._run(values, variant)
        wrapper = query._get_cursor_wrapper(cursor)
        wrapper.fill_cache()
        return wrapper.row_cache

    def first(self, *values, variant=None):
        """The first row (as `rows` gives them), or None when there is none."""
        found = self.rows(*values, variant=variant)
        return found[0] if found else None
