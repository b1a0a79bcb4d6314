"""The JSON documents of rubygems.org's API v1 that tools and bots read (`gems/NAME.json`,
`versions/NAME.json`, `search.json`), in rubygems.org's shapes, built from specs (pure, no HTTP)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.formats.rubygems.metadata import GemSpec, version_key

# The links of gems/NAME.json and where each comes from in the gemspec's metadata.
URI_KEYS = ("wiki_uri", "documentation_uri", "mailing_list_uri", "source_code_uri", "bug_tracker_uri",
            "changelog_uri", "funding_uri")


@dataclass(frozen=True)
class PublishedGem:
    """A live version as the API describes it: its spec, the sha256 of its .gem, when it was pushed and
    how often it was downloaded."""

    spec: GemSpec
    sha256: str
    created_at: dt.datetime
    downloads: int


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def newest_first(gems: list[PublishedGem]) -> list[PublishedGem]:
    """Highest version first (and, for one version on several platforms, the latest push first)."""
    by_push = sorted(gems, key=lambda gem: gem.created_at, reverse=True)
    return sorted(by_push, key=lambda gem: version_key(gem.spec.version), reverse=True)


def current(gems: list[PublishedGem]) -> PublishedGem:
    """The version gems/NAME.json describes: the highest release, else the highest prerelease."""
    ordered = newest_first(gems)
    return next((gem for gem in ordered if not gem.spec.prerelease), ordered[0])


def gem_document(gems: list[PublishedGem], *, gem_uri: str, project_uri: str) -> dict:
    """gems/NAME.json (and each entry of search.json): the gem, described by its current version."""
    gem = current(gems)
    spec = gem.spec
    document = {
        "name": spec.name,
        "downloads": sum(g.downloads for g in gems),
        "version": spec.version,
        "version_created_at": iso(gem.created_at),
        "version_downloads": gem.downloads,
        "platform": spec.platform,
        "authors": ", ".join(spec.authors),
        "info": spec.description or spec.summary,
        "licenses": spec.licenses,
        "metadata": spec.metadata,
        "yanked": False,
        "sha": gem.sha256,
        "project_uri": project_uri,
        "gem_uri": gem_uri,
        "homepage_uri": spec.homepage or None,
    }
    document.update({key: spec.metadata.get(key) or None for key in URI_KEYS})
    document["dependencies"] = {
        kind: [{"name": d.name, "requirements": d.requirement_text} for d in spec.dependencies if d.type == kind]
        for kind in ("development", "runtime")}
    return document


def versions_document(gems: list[PublishedGem]) -> list[dict]:
    """versions/NAME.json: every live version, highest first."""
    return [{
        "authors": ", ".join(gem.spec.authors),
        "built_at": iso(_built_at(gem)),
        "created_at": iso(gem.created_at),
        "description": gem.spec.description or gem.spec.summary,
        "downloads_count": gem.downloads,
        "metadata": gem.spec.metadata,
        "number": gem.spec.version,
        "summary": gem.spec.summary,
        "platform": gem.spec.platform,
        "rubygems_version": _requirement(gem.spec.required_rubygems_version),
        "ruby_version": _requirement(gem.spec.required_ruby_version),
        "prerelease": gem.spec.prerelease,
        "licenses": gem.spec.licenses,
        "requirements": [],
        "sha": gem.sha256,
    } for gem in newest_first(gems)]


def _built_at(gem: PublishedGem) -> dt.datetime:
    """The gemspec's date, or the push when it has none a calendar knows (2024-13-45 passes the gemspec)."""
    try:
        return dt.datetime.fromisoformat(gem.spec.date)
    except ValueError:
        return gem.created_at


def _requirement(requirements: list[tuple[str, str]]) -> str:
    return ", ".join(f"{op} {version}" for op, version in requirements)
