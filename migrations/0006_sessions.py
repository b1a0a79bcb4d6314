"""Browser sessions: a per-user session epoch (bumped to end every session of the user) and the wrong
passwords of the last minute, which slow a login down."""
from peewee import CharField, DateTimeField, Model


def upgrade(db) -> None:
    # Plain SQL both engines take: playhouse.migrate makes a NOT NULL column on SQLite by copying the
    # table and dropping the old one, which would cascade to every row that refers to an account.
    db.execute_sql("ALTER TABLE account ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0")

    class SignInFailure(Model):
        lower_login = CharField(max_length=64)
        remote_addr = CharField(max_length=64, default="")
        created_at = DateTimeField()

        class Meta:
            database = db
            legacy_table_names = False
            indexes = ((("lower_login", "created_at"), False),)

    db.create_tables([SignInFailure])
