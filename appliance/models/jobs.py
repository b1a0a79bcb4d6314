"""Leases that let many scheduler processes share the scheduled jobs, one holder at a time."""
from __future__ import annotations

from peewee import CharField, DateTimeField

from appliance.models.base import BaseModel


class SchedulerLease(BaseModel):
    """Who runs the job `name` until `expires_at`; an expired lease may be taken over by anyone."""

    name = CharField(max_length=64, primary_key=True)
    holder = CharField(max_length=64)
    expires_at = DateTimeField()
