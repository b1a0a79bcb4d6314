"""What each format's stored versions mean, decided once per format: which file is the version's main
file, and its states (prerelease, platform, deprecated, listed). Deleted (yanked, unpublished) is the
version's `deleted_at` in every format.

Pure functions of a version's string, decoded metadata and file names; the read model (`queries`)
asks them, so no face guesses `files[0]` or reads a metadata key of its own.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAVEN_SIDE_FILES = re.compile(r"\.(pom|module|asc|md5|sha1|sha256|sha512)$|^maven-metadata\.xml", re.IGNORECASE)


@dataclass(frozen=True)
class VersionStates:
    prerelease: bool = False
    platform: str | None = None
    deprecated: str | None = None
    listed: bool = True


def _npm_states(version: str, metadata: dict) -> VersionStates:
    deprecated = metadata.get("deprecated")
    return VersionStates(prerelease="-" in version.split("+", 1)[0],
                         deprecated=deprecated if isinstance(deprecated, str) and deprecated else None)


def _rubygems_states(version: str, metadata: dict) -> VersionStates:
    platform = metadata.get("platform")
    # Gem::Version#prerelease?: any letter in the version (not the platform) makes it one.
    return VersionStates(prerelease=bool(re.search(r"[A-Za-z]", str(metadata.get("version", version)))),
                         platform=platform if platform and platform != "ruby" else None)


def _nuget_states(version: str, metadata: dict) -> VersionStates:
    return VersionStates(prerelease=bool(metadata.get("isPrerelease")), listed=metadata.get("listed", True) is not False)


def _maven_states(version: str, metadata: dict) -> VersionStates:
    return VersionStates(prerelease=version.upper().endswith("-SNAPSHOT"))


def _docker_states(version: str, metadata: dict) -> VersionStates:
    platforms = metadata.get("platforms") or []
    described = sorted({"/".join(p[k] for k in ("os", "architecture", "variant") if isinstance(p, dict) and p.get(k))
                        for p in platforms} - {""})
    return VersionStates(platform=", ".join(described) or None)


STATES = {
    "npm": _npm_states,
    "rubygems": _rubygems_states,
    "nuget": _nuget_states,
    "maven": _maven_states,
    "docker": _docker_states,
}


def version_states(fmt: str, version: str, metadata: dict) -> VersionStates:
    return STATES.get(fmt, lambda version, metadata: VersionStates())(version, metadata)


def _names(value) -> str:
    """Authors as formats store them: a string, a list, or npm's {"name": ...} objects."""
    if isinstance(value, dict):
        return str(value.get("name", ""))
    if isinstance(value, list):
        return ", ".join(_names(v) for v in value)
    return str(value or "")


def search_fields(fmt: str, metadata: dict, summary: str) -> dict[str, str]:
    """The `search_*` columns of a version: what registry searches match besides the package's name
    (a title, the description, keywords or tags, the authors), lowercased."""
    keywords: object = []
    if fmt == "nuget":
        title, description, keywords, authors = (metadata.get("title"), metadata.get("description"),
                                                 metadata.get("tags"), metadata.get("authors"))
    elif fmt == "rubygems":
        title, description, authors = "", metadata.get("description"), metadata.get("authors")
    elif fmt == "maven":
        title, description, authors = metadata.get("name"), metadata.get("description"), ""
    else:
        title, description, keywords, authors = ("", metadata.get("description"), metadata.get("keywords"),
                                                 metadata.get("author"))
    words = [str(k).lower() for k in keywords] if isinstance(keywords, list) else []
    return {"search_title": str(title or "")[:255].lower(),
            "search_description": str(description or summary or "").lower(),
            "search_keywords": f" {' '.join(words)} " if words else "",
            "search_authors": _names(authors).lower()}


def main_file_name(fmt: str, version: str, metadata: dict, names: Sequence[str]) -> str | None:
    """The name, among `names`, of the file a client installs the version from (None without files)."""
    if not names:
        return None
    by_suffix = {
        "npm": (".tgz",),
        "rubygems": (".gem",),
        "nuget": (".nupkg",),
    }
    if fmt in by_suffix:
        return next((n for n in names if n.lower().endswith(by_suffix[fmt])), None)
    if fmt == "docker":
        return "manifest.json" if "manifest.json" in names else None
    if fmt == "maven":
        artifact = metadata.get("artifactId")
        packaging = metadata.get("packaging") or "jar"
        if artifact and f"{artifact}-{version}.{packaging}" in names:
            return f"{artifact}-{version}.{packaging}"
        artifacts = [n for n in names if not MAVEN_SIDE_FILES.search(n)]
        # A pom-only artifact (a BOM, a parent) is installed from its pom.
        if artifacts:
            return min(artifacts, key=len)  # the artifact itself, before its -sources, -javadoc, ...
        return next((n for n in names if n.lower().endswith(".pom")), None)
    return names[0]
