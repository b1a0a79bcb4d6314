"""The REST API's rate-limit windows, and webhooks: hooks and their deliveries."""
from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def upgrade(db) -> None:
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Account(Base):
        pass

    class Repository(Base):
        pass

    class ApiRateWindow(Base):
        key = CharField(max_length=80)
        window_start = DateTimeField()
        used = IntegerField(default=0)

        class Meta:
            indexes = ((("key", "window_start"), True),)

    class Hook(Base):
        repository = ForeignKeyField(Repository, null=True, on_delete="CASCADE")
        organization = ForeignKeyField(Account, null=True, on_delete="CASCADE")
        url = TextField()
        secret = TextField(default="")
        content_type = CharField(max_length=8, default="form")
        insecure_ssl = CharField(max_length=1, default="0")
        events = TextField(default='["package"]')
        active = BooleanField(default=True)
        last_response_code = IntegerField(null=True)
        last_response_status = CharField(max_length=32, default="unused")
        last_response_message = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

    class HookDelivery(Base):
        hook = ForeignKeyField(Hook, on_delete="CASCADE")
        guid = CharField(max_length=36, index=True)
        event = CharField(max_length=32)
        action = CharField(max_length=32, null=True)
        repository_id = IntegerField(null=True)
        payload = TextField()
        redelivery = BooleanField(default=False)
        status = CharField(max_length=64, default="pending")
        status_code = IntegerField(default=0)
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField(null=True, index=True)
        delivered_at = DateTimeField(null=True)
        duration = FloatField(null=True)
        request_headers = TextField(default="{}")
        response_headers = TextField(default="{}")
        response_body = TextField(default="")
        created_at = DateTimeField(index=True)

    db.create_tables([ApiRateWindow, Hook, HookDelivery])
