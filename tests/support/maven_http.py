"""Building what mvn and gradle send, and checking that a refused request left nothing behind."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.models import AuditEvent, Blob, Package, PackageFile, PackageVersion

ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


def pom_bytes(
    group: str,
    artifact: str,
    version: str,
    *,
    name: str = "",
    description: str = "",
    license_name: str = "MIT",
    url: str = "",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <version>{version}</version>
  <name>{name or artifact}</name>
  <description>{description}</description>
  <url>{url}</url>
  <licenses><license><name>{license_name}</name></license></licenses>
  <!-- do_not_remove: published-with-gradle-metadata -->
</project>
""".encode()


def module_bytes(group: str, artifact: str, version: str) -> bytes:
    return json.dumps(
        {
            "formatVersion": "1.1",
            "component": {
                "group": group,
                "module": artifact,
                "version": version,
                "attributes": {"org.gradle.status": "release"},
            },
            "createdBy": {"gradle": {"version": "8.5"}},
            "variants": [
                {
                    "name": "apiElements",
                    "attributes": {"org.gradle.usage": "java-api"},
                    "files": [{"name": f"{artifact}-{version}.jar", "url": f"{artifact}-{version}.jar"}],
                },
                {
                    "name": "runtimeElements",
                    "attributes": {"org.gradle.usage": "java-runtime"},
                    "files": [{"name": f"{artifact}-{version}.jar", "url": f"{artifact}-{version}.jar"}],
                },
            ],
        },
        indent=2,
    ).encode()


def jar_bytes(label: str) -> bytes:
    """Bytes unique to `label`, so no two tests share a blob by accident."""
    return b"PK\x03\x04" + hashlib.sha256(label.encode()).digest() * 64


def digest(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def basic(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


@dataclass(frozen=True)
class Footprint:
    """Everything a write can leave behind: stored files and rows."""

    files: tuple[str, ...]
    rows: tuple[int, ...]


def footprint(storage_root: Path) -> Footprint:
    files = tuple(sorted(str(p.relative_to(storage_root)) for p in storage_root.rglob("*") if p.is_file()))
    rows = tuple(model.select().count() for model in (Package, PackageVersion, PackageFile, Blob))
    return Footprint(files, rows)


def audit_count() -> int:
    return AuditEvent.select().count()
