"""What registry searches match besides a package's name, per version, lowercased: a title, the
description, keywords (npm keywords, NuGet tags) between spaces and the authors. Filled for the
versions already published from their stored metadata."""
import json

from peewee import CharField, TextField
from playhouse.migrate import SchemaMigrator, migrate

COLUMNS = ("search_title", "search_description", "search_keywords", "search_authors")


def _names(value) -> str:
    """Authors as each format stores them: a string, a list, or npm's {"name": ...} objects."""
    if isinstance(value, dict):
        return str(value.get("name", ""))
    if isinstance(value, list):
        return ", ".join(_names(v) for v in value)
    return str(value or "")


def _fields(fmt: str, metadata: dict, summary: str) -> tuple[str, str, str, str]:
    if fmt == "nuget":
        title, description, keywords, authors = (metadata.get("title"), metadata.get("description"),
                                                  metadata.get("tags"), metadata.get("authors"))
    elif fmt == "rubygems":
        title, description, keywords, authors = "", metadata.get("description"), [], metadata.get("authors")
    elif fmt == "maven":
        title, description, keywords, authors = metadata.get("name"), metadata.get("description"), [], ""
    else:
        title, description, keywords, authors = "", metadata.get("description"), metadata.get("keywords"), \
            metadata.get("author")
    words = [str(k).lower() for k in keywords] if isinstance(keywords, list) else []
    return (str(title or "")[:255].lower(), str(description or summary or "").lower(),
            f" {' '.join(words)} " if words else "", _names(authors).lower())


def upgrade(db) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("package_version", "search_title", CharField(max_length=255, default="")),
        migrator.add_column("package_version", "search_description", TextField(default="")),
        migrator.add_column("package_version", "search_keywords", TextField(default="")),
        migrator.add_column("package_version", "search_authors", TextField(default="")),
    )
    param = db.param
    rows = db.execute_sql("SELECT v.id, p.format, v.metadata, v.summary FROM package_version v "
                          "JOIN package p ON p.id = v.package_id").fetchall()
    for version_id, fmt, metadata, summary in rows:
        try:
            document = json.loads(metadata or "{}")
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            continue
        assignments = ", ".join(f"{column} = {param}" for column in COLUMNS)
        db.execute_sql(f"UPDATE package_version SET {assignments} WHERE id = {param}",
                       (*_fields(fmt, document, summary or ""), version_id))
