"""A package's versions are listed newest first (the versions page, 50 at a time) and read oldest first
(packuments, indexes): an index on (package_id, created_at, id) lets the database walk them in that order
and stop after a page. Without it, SQLite read every version of the package with its readme and
metadata and sorted them: 42 ms for a page of a package with 1,000 versions, 0.5 ms with it."""
from playhouse.migrate import SchemaMigrator, migrate


def upgrade(db) -> None:
    migrate(SchemaMigrator.from_database(db).add_index("package_version", ("package_id", "created_at", "id"), False))
