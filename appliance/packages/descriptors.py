"""What each format's stored versions mean, decided once per format: which file is the version's main
file, and its states (prerelease, platform, deprecated, listed). Deleted (yanked, unpublished) is the
version's `deleted_at` in every format.

Pure functions of a version's string, decoded metadata and file names; the read model (`queries`,
`views`) asks them, so no face guesses `files[0]` or reads a metadata key of its own.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Dependency:
    name: str
    requirement: str  # the version range as the format writes it ("^1.2.0", ">= 2.0, < 3", "[1.0,)")
    kind: str  # how the format groups it: "runtime", "dev", "peer", a NuGet target framework, a Maven scope


GEM_PRERELEASE = re.compile(r"[A-Za-z]")
MAVEN_SIDE_FILES = re.compile(r"\.(pom|module|asc|md5|sha1|sha256|sha512)$|^maven-metadata\.xml", re.IGNORECASE)


class VersionStates(NamedTuple):  # a tuple: one per version of every document a registry builds
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
    return VersionStates(prerelease=bool(GEM_PRERELEASE.search(str(metadata.get("version", version)))),
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


MAIN_FILE_SUFFIXES = {"npm": ".tgz", "rubygems": ".gem", "nuget": ".nupkg"}


def main_file_name(fmt: str, version: str, metadata: dict, names: Sequence[str]) -> str | None:
    """The name, among `names`, of the file a client installs the version from (None without files)."""
    if not names:
        return None
    if fmt in MAIN_FILE_SUFFIXES:
        return next((n for n in names if n.lower().endswith(MAIN_FILE_SUFFIXES[fmt])), None)
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


# ---- what a version says about itself for people: its long text, links and dependencies --------------


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def readme_text(fmt: str, readme: str | None, summary: str, metadata: dict) -> str:
    """The long text a package page renders as Markdown: npm's readme, a gem's description, a nuspec's
    description, a pom's description, an OCI `description` annotation; the summary when there is no more."""
    if readme:
        return readme
    if fmt == "docker":
        return _text((metadata.get("annotations") or {}).get("org.opencontainers.image.description")) or summary
    return _text(metadata.get("description")) or summary


def source_url(fmt: str, metadata: dict) -> str | None:
    """The http(s) URL of the package's source or home page, as its metadata names one."""
    candidates: list = []
    if fmt == "npm":
        repository = metadata.get("repository")
        candidates = [repository.get("url") if isinstance(repository, dict) else repository, metadata.get("homepage")]
    elif fmt == "rubygems":
        candidates = [(metadata.get("metadata") or {}).get("source_code_uri"), metadata.get("homepage")]
    elif fmt == "nuget":
        candidates = [metadata.get("repositoryUrl"), metadata.get("projectUrl")]
    elif fmt == "maven":
        candidates = [metadata.get("scm"), metadata.get("url")]
    elif fmt == "docker":
        annotations = metadata.get("annotations") or {}
        candidates = [annotations.get("org.opencontainers.image.source"), annotations.get("org.opencontainers.image.url")]
    for candidate in candidates:
        url = _text(candidate).strip().removeprefix("git+")
        if url.lower().startswith(("https://", "http://")):
            return url
    return None


def dependencies(fmt: str, metadata: dict) -> list[Dependency]:
    """The version's declared dependencies, in the format's order."""
    found: list[Dependency] = []
    if fmt == "npm":
        for key, kind in (("dependencies", "runtime"), ("peerDependencies", "peer"),
                          ("optionalDependencies", "optional"), ("devDependencies", "dev")):
            listed = metadata.get(key)
            if isinstance(listed, dict):
                found += [Dependency(str(name), _text(wanted), kind) for name, wanted in listed.items()]
    elif fmt == "rubygems":
        for dep in metadata.get("dependencies") or []:
            if isinstance(dep, dict):
                requirement = ", ".join(" ".join(str(part) for part in r) for r in dep.get("requirements") or [])
                found.append(Dependency(_text(dep.get("name")), requirement, _text(dep.get("type")) or "runtime"))
    elif fmt == "nuget":
        for group in metadata.get("dependencyGroups") or []:
            if isinstance(group, dict):
                framework = _text(group.get("targetFramework")) or "any framework"
                found += [Dependency(_text(d.get("id")), _text(d.get("range")), framework)
                          for d in group.get("dependencies") or [] if isinstance(d, dict)]
    elif fmt == "maven":
        for dep in metadata.get("dependencies") or []:
            if isinstance(dep, dict):
                found.append(Dependency(f"{_text(dep.get('groupId'))}:{_text(dep.get('artifactId'))}",
                                        _text(dep.get("version")), _text(dep.get("scope")) or "compile"))
    return found
