"""Leases that let many scheduler processes share the scheduled jobs, one holder at a time, and what the
jobs last did."""
from __future__ import annotations

from peewee import (
    BigIntegerField,
    CharField,
    CompositeKey,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    TextField,
)

from appliance.models.accounts import Account
from appliance.models.base import BaseModel


class SchedulerLease(BaseModel):
    """Who runs the job `name` until `expires_at`; an expired lease may be taken over by anyone."""

    name = CharField(max_length=64, primary_key=True)
    holder = CharField(max_length=64)
    expires_at = DateTimeField()


class JobStatus(BaseModel):
    """What the scheduled job `name` did: totals since the appliance began, and its last run, for
    `appliance jobs list`, the console and /metrics (which read it on any node, whoever ran the job)."""

    name = CharField(max_length=64, primary_key=True)
    runs = BigIntegerField(default=0)
    failures = BigIntegerField(default=0)
    seconds_total = FloatField(default=0.0)
    last_started_at = DateTimeField(null=True)
    last_duration_seconds = FloatField(null=True)
    last_outcome = CharField(max_length=16, null=True)  # succeeded | failed
    last_summary = TextField(default="")
    last_holder = CharField(max_length=64, default="")
    last_succeeded_at = DateTimeField(null=True)


class StorageUsage(BaseModel):
    """Packages, versions, files and bytes per format, as the `storage_usage` job last counted them
    (/metrics reads these rows instead of counting on every scrape)."""

    format = CharField(max_length=16, primary_key=True)
    packages = BigIntegerField(default=0)
    versions = BigIntegerField(default=0)
    files = BigIntegerField(default=0)
    bytes = BigIntegerField(default=0)
    updated_at = DateTimeField()


class OwnerStorage(BaseModel):
    """Packages and bytes of each owner per format (live packages; `private_bytes` of those in private
    repositories), as the `storage_usage` job last counted them, for the console's storage page."""

    owner = ForeignKeyField(Account, on_delete="CASCADE")
    format = CharField(max_length=16)
    packages = BigIntegerField(default=0)
    bytes = BigIntegerField(default=0)
    private_bytes = BigIntegerField(default=0)
    updated_at = DateTimeField()

    class Meta:
        primary_key = CompositeKey("owner", "format")
        indexes = ((("bytes",), False),)
