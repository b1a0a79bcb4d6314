"""Webhooks: repository and organization hooks, and each delivery of an event to one of them (the
delivery log, and the queue the scheduler delivers from)."""
from __future__ import annotations

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from appliance.models.accounts import Account
from appliance.models.base import BaseModel, utcnow
from appliance.models.repositories import Repository


class Hook(BaseModel):
    """A hook of a repository (`repository` set) or of an organization (`organization` set)."""

    repository = ForeignKeyField(Repository, null=True, backref="hooks", on_delete="CASCADE")
    organization = ForeignKeyField(Account, null=True, backref="hooks", on_delete="CASCADE")
    url = TextField()
    # Kept to sign deliveries; never shown by the API, never written to a log or a payload.
    secret = TextField(default="")
    content_type = CharField(max_length=8, default="form")  # json | form
    insecure_ssl = CharField(max_length=1, default="0")
    events = TextField(default='["package"]')  # JSON list
    active = BooleanField(default=True)
    last_response_code = IntegerField(null=True)
    last_response_status = CharField(max_length=32, default="unused")
    last_response_message = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class HookDelivery(BaseModel):
    """One event sent (or to be sent) to one hook. `next_attempt_at` is set while it is due: the
    scheduler takes deliveries whose time has come, and clears it when one succeeds or gives up."""

    hook = ForeignKeyField(Hook, backref="deliveries", on_delete="CASCADE")
    guid = CharField(max_length=36, index=True)
    event = CharField(max_length=32)
    action = CharField(max_length=32, null=True)
    repository_id = IntegerField(null=True)
    payload = TextField()  # the JSON body as the receiver gets it
    redelivery = BooleanField(default=False)
    status = CharField(max_length=64, default="pending")
    status_code = IntegerField(default=0)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True, index=True)
    delivered_at = DateTimeField(null=True)
    duration = FloatField(null=True)  # seconds of the last attempt
    request_headers = TextField(default="{}")
    response_headers = TextField(default="{}")
    response_body = TextField(default="")
    created_at = DateTimeField(default=utcnow, index=True)
