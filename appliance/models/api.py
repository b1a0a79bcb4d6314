"""What the REST API keeps between requests: each caller's requests in the current hour, counted in
the database so every worker and node sees the same count."""
from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField

from appliance.models.base import BaseModel


class ApiRateWindow(BaseModel):
    key = CharField(max_length=80)  # user:ID or address:IP
    window_start = DateTimeField()
    used = IntegerField(default=0)

    class Meta:
        indexes = ((("key", "window_start"), True),)
