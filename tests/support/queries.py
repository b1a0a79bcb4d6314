"""Counting the SQL statements a block of code runs (how the tests show a page costs a fixed number)."""
from __future__ import annotations

from appliance.db import database


class Queries:
    """Counts the SQL statements run inside the block (and keeps them, for telling them apart)."""

    def __enter__(self):
        self.count = 0
        self.statements: list[str] = []
        self._execute = database.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            self.count += 1
            self.statements.append(sql)
            return self._execute(sql, params, *args, **kwargs)

        database.obj.execute_sql = counting
        return self

    def __exit__(self, *exc):
        database.obj.execute_sql = self._execute
