"""What the scheduled jobs did (job_status), the storage usage the metrics read (storage_usage), and the
directory fields of accounts that sign in with LDAP."""
from peewee import BigIntegerField, CharField, DateTimeField, FloatField, Model, TextField
from playhouse.migrate import SchemaMigrator, migrate


def upgrade(db) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("account", "name", CharField(max_length=255, null=True)),
        migrator.add_column("account", "identity_source", CharField(max_length=16, null=True)),
        migrator.add_column("account", "directory_dn", CharField(max_length=1024, null=True)),
    )

    class JobStatus(Model):
        name = CharField(max_length=64, primary_key=True)
        runs = BigIntegerField(default=0)
        failures = BigIntegerField(default=0)
        seconds_total = FloatField(default=0.0)
        last_started_at = DateTimeField(null=True)
        last_duration_seconds = FloatField(null=True)
        last_outcome = CharField(max_length=16, null=True)
        last_summary = TextField(default="")
        last_holder = CharField(max_length=64, default="")
        last_succeeded_at = DateTimeField(null=True)

        class Meta:
            database = db
            legacy_table_names = False

    class StorageUsage(Model):
        format = CharField(max_length=16, primary_key=True)
        packages = BigIntegerField(default=0)
        versions = BigIntegerField(default=0)
        files = BigIntegerField(default=0)
        bytes = BigIntegerField(default=0)
        updated_at = DateTimeField()

        class Meta:
            database = db
            legacy_table_names = False

    db.create_tables([JobStatus, StorageUsage])
