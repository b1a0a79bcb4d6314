from __future__ import annotations

from peewee import CharField, DateTimeField, TextField

from appliance.models.base import BaseModel, utcnow


class Setting(BaseModel):
    """A runtime setting changed from its default; the value is JSON."""

    key = CharField(max_length=128, primary_key=True)
    value = TextField()
    updated_at = DateTimeField(default=utcnow)
