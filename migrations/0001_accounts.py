"""Users, organizations, repositories, tokens and runtime settings."""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, Model, TextField


def upgrade(db) -> None:
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Account(Base):
        login = CharField(max_length=64)
        lower_login = CharField(max_length=64, unique=True)
        kind = CharField(max_length=16, default="user")
        email = CharField(max_length=254, null=True)
        password_hash = CharField(max_length=255, null=True)
        site_admin = BooleanField(default=False)
        suspended = BooleanField(default=False)
        created_at = DateTimeField()

    class OrganizationMember(Base):
        organization = ForeignKeyField(Account, on_delete="CASCADE")
        user = ForeignKeyField(Account, on_delete="CASCADE")
        role = CharField(max_length=16, default="member")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("organization", "user"), True),)

    class Repository(Base):
        owner = ForeignKeyField(Account, on_delete="CASCADE")
        name = CharField(max_length=100)
        lower_name = CharField(max_length=100)
        visibility = CharField(max_length=16, default="public")
        description = TextField(default="")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("owner", "lower_name"), True),)

    class Collaborator(Base):
        repository = ForeignKeyField(Repository, on_delete="CASCADE")
        user = ForeignKeyField(Account, on_delete="CASCADE")
        role = CharField(max_length=16)
        created_at = DateTimeField()

        class Meta:
            indexes = ((("repository", "user"), True),)

    class Token(Base):
        user = ForeignKeyField(Account, on_delete="CASCADE")
        token_hash = CharField(max_length=64, unique=True)
        scopes = TextField(default="")
        note = CharField(max_length=255, default="")
        repository = ForeignKeyField(Repository, null=True, on_delete="CASCADE")
        expires_at = DateTimeField(null=True)
        last_used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        revoked_at = DateTimeField(null=True)

    class Setting(Base):
        key = CharField(max_length=128, primary_key=True)
        value = TextField()
        updated_at = DateTimeField()

    db.create_tables([Account, OrganizationMember, Repository, Collaborator, Token, Setting])
