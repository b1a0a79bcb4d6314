from __future__ import annotations

import datetime as dt

from peewee import Model

from appliance.db import database


def utcnow() -> dt.datetime:
    """Naive UTC: what both SQLite and PostgreSQL `timestamp` columns store without surprises."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class _Writes:
    """How many writes this process made to the rows credentials and roles are decided from."""

    count = 0


def credential_writes() -> int:
    """A number that moves whenever this process changes a token, an account, a membership or a
    collaboration: answers remembered before it moved (`appliance.auth.recent`) are not used again, so
    a revocation is seen at once where it was made, and within a second everywhere else."""
    return _Writes.count


class DecidesCredentials(BaseModel):
    """A model whose rows decide who a credential is and what it may do (see `credential_writes`)."""

    def save(self, *args, **kwargs):
        _Writes.count += 1
        return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        _Writes.count += 1
        return super().delete_instance(*args, **kwargs)

    # Columns no credential decision reads (a token's last use): writing only these moves nothing.
    bookkeeping_columns: frozenset[str] = frozenset()

    @classmethod
    def update(cls, data=None, /, **update):
        columns = {getattr(key, "name", key) for key in {**(data or {}), **update}}
        if not columns <= cls.bookkeeping_columns:
            _Writes.count += 1
        return super().update(data, **update)

    @classmethod
    def delete(cls):
        _Writes.count += 1
        return super().delete()
