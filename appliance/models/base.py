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
