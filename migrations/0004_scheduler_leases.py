"""Leases for the scheduled jobs, so that any number of `appliance scheduler` processes run each job
one at a time."""
from peewee import CharField, DateTimeField, Model


def upgrade(db) -> None:
    class SchedulerLease(Model):
        name = CharField(max_length=64, primary_key=True)
        holder = CharField(max_length=64)
        expires_at = DateTimeField()

        class Meta:
            database = db
            legacy_table_names = False

    db.create_tables([SchedulerLease])
