"""The documents `gem` and `bundler` read to find and resolve gems, built from specs (pure, no HTTP).

The compact index (`/versions`, `/info/NAME`, `/names`) is what bundler and recent `gem` use; the
legacy indexes (`specs.4.8.gz` and friends, `quick/Marshal.4.8/*.gemspec.rz`) and the dependency API
are in Ruby's Marshal format for older paths of both clients.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.formats.rubygems import marshal
from appliance.formats.rubygems.marshal import RubyObject, Symbol, UserDump, gem_requirement, gem_version
from appliance.formats.rubygems.metadata import GemSpec, version_key


@dataclass
class IndexedGem:
    """One live version of a gem as the indexes list it: its spec and the sha256 of its .gem."""

    spec: GemSpec
    sha256: str


def _requirement_line(requirements: list[tuple[str, str]]) -> str:
    return "&".join(f"{op} {version}" for op, version in requirements)


def _unconstrained(requirements: list[tuple[str, str]]) -> bool:
    return all(op == ">=" and version == "0" for op, version in requirements)


def info_file(gems: Iterable[IndexedGem]) -> bytes:
    """`/info/NAME`: a line per version, in publish order so that a new version is an appended line.

    `VERSION[-PLATFORM] DEP:REQ&REQ,...|checksum:SHA256,ruby:REQ,rubygems:REQ`, runtime dependencies only.
    """
    return b"---\n" + b"".join(info_line(gem) for gem in gems)


def info_line(gem: IndexedGem) -> bytes:
    """One version's line of `/info/NAME`, with its newline."""
    spec = gem.spec
    dependencies = ",".join(f"{d.name}:{_requirement_line(d.requirements)}" for d in spec.runtime_dependencies)
    requirements = [f"checksum:{gem.sha256}"]
    if not _unconstrained(spec.required_ruby_version):
        requirements.append(f"ruby:{_requirement_line(spec.required_ruby_version)}")
    if not _unconstrained(spec.required_rubygems_version):
        requirements.append(f"rubygems:{_requirement_line(spec.required_rubygems_version)}")
    return f"{spec.full_version} {dependencies}|{','.join(requirements)}\n".encode()


@dataclass
class VersionHistory:
    """A version of a gem as it came and went: published, and yanked (soft-deleted) or not."""

    gem: IndexedGem
    published_at: dt.datetime
    yanked_at: dt.datetime | None = None


VersionsEvent = tuple[tuple, str]  # (when it happened, for ordering; its line)


def versions_events(package_id: int, name: str, versions: list[VersionHistory]) -> list[VersionsEvent]:
    """The lines one gem contributes to `/versions`: one per publish (`NAME VERSION INFO_MD5`) and per
    yank (`NAME -VERSION INFO_MD5`), each with the MD5 of the gem's info file as it was right after.

    Linear in the versions: a publish appends a line to the info file, so its MD5 continues the running
    one; only a yank (a line taken out of the middle) hashes the live lines again. Each event is keyed
    by (time, yank after publish, package id, version index), the order the owner's file lists them.
    """
    changes = []
    for version_index, version in enumerate(versions):
        changes.append((version.published_at, False, package_id, version_index))
        if version.yanked_at is not None:
            changes.append((version.yanked_at, True, package_id, version_index))
    changes.sort()
    lines = [info_line(version.gem) for version in versions]
    live: list[int] = []
    running = hashlib.md5(b"---\n")  # the protocol's choice, not ours
    events = []
    for change in changes:
        _, yanked, _, version_index = change
        if yanked:
            live.remove(version_index)
            running = hashlib.md5(b"---\n")
            for index in live:
                running.update(lines[index])
        else:
            live.append(version_index)
            running.update(lines[version_index])
        full_version = versions[version_index].gem.spec.full_version
        events.append((change, f"{name} {'-' if yanked else ''}{full_version} {running.hexdigest()}"))
    return events


def versions_file(created_at: dt.datetime, events: Iterable[list[VersionsEvent]]) -> bytes:
    """`/versions`: the events of every gem (`versions_events`) in the order they happened.

    Bundler reads the lines in order (a `-VERSION` removes one, the last MD5 of a gem is its info
    file's), so the file only grows as gems are pushed and yanked: bundler's `Range: bytes=N-` gets the
    new lines, and what it appends to its copy is this file. Times are naive UTC, as the database keeps them.
    """
    merged = sorted(event for gem_events in events for event in gem_events)
    return versions_header(created_at) + "".join(f"{line}\n" for _, line in merged).encode()


def versions_header(created_at: dt.datetime) -> bytes:
    return f"created_at: {created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}\n---\n".encode()


@dataclass(frozen=True)
class VersionsLog:
    """A `/versions` file as it was built, and which events of which gem it holds, so that the next one
    can be this one with lines appended (`appended`) rather than merged again from every gem."""

    body: bytes
    header: bytes
    events: dict[int, list[VersionsEvent]]  # by package id: the events the body holds, in order
    last: tuple  # the key of its last line

    @classmethod
    def build(cls, created_at: dt.datetime, events: dict[int, list[VersionsEvent]]) -> VersionsLog:
        body = versions_file(created_at, events.values())
        last = max((gem[-1][0] for gem in events.values() if gem), default=())
        return cls(body, versions_header(created_at), dict(events), last)

    def appended(self, created_at: dt.datetime, events: dict[int, list[VersionsEvent]]) -> VersionsLog | None:
        """This file with the events it lacks appended, when that is what the new file is: every gem it
        lists still there with the same events first, and every new event later than its last line
        (pushes and yanks). None otherwise (a restore, a gem gone, the header changed): build it anew."""
        if versions_header(created_at) != self.header or not self.events.keys() <= events.keys():
            return None
        new: list[VersionsEvent] = []
        for package_id, gem_events in events.items():
            held = self.events.get(package_id, [])
            if gem_events[:len(held)] != held:
                return None
            new += gem_events[len(held):]
        new.sort()
        if new and new[0][0] <= self.last:
            return None
        body = self.body + "".join(f"{line}\n" for _, line in new).encode()
        return VersionsLog(body, self.header, dict(events), new[-1][0] if new else self.last)


def names_file(names: Iterable[str]) -> bytes:
    return ("\n".join(["---", *sorted(names)]) + "\n").encode()


# ---- legacy indexes (Marshal) ----------------------------------------------------------------------


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same specs make the same bytes, so ETags hold across workers and nodes.
    return gzip.compress(data, mtime=0)


def _specs_tuples(specs: Iterable[GemSpec]) -> list[list]:
    ordered = sorted(specs, key=lambda s: (s.name, version_key(s.version), s.platform))
    return [[s.name, gem_version(s.version), s.platform] for s in ordered]


def specs_index(specs: Iterable[GemSpec]) -> bytes:
    """specs.4.8.gz: [name, Gem::Version, platform] of every release (non-prerelease) version."""
    return _gzip(marshal.dumps(_specs_tuples(s for s in specs if not s.prerelease)))


def latest_specs_index(specs: Iterable[GemSpec]) -> bytes:
    """latest_specs.4.8.gz: the newest release version of each gem on each platform."""
    newest: dict[tuple[str, str], GemSpec] = {}
    for spec in specs:
        key = (spec.name, spec.platform)
        if not spec.prerelease and (key not in newest or version_key(spec.version) > version_key(newest[key].version)):
            newest[key] = spec
    return _gzip(marshal.dumps(_specs_tuples(newest.values())))


def prerelease_specs_index(specs: Iterable[GemSpec]) -> bytes:
    """prerelease_specs.4.8.gz: every prerelease version."""
    return _gzip(marshal.dumps(_specs_tuples(s for s in specs if s.prerelease)))


def _dependency(dependency) -> RubyObject:
    requirement = gem_requirement(dependency.requirements)
    return RubyObject("Gem::Dependency", {
        "name": dependency.name,
        "requirement": requirement,
        "type": Symbol(dependency.type),
        "prerelease": False,
        "version_requirements": requirement,
    })


def quick_spec(spec: GemSpec) -> bytes:
    """quick/Marshal.4.8/NAME-VERSION[-PLATFORM].gemspec.rz: the zlib-deflated Marshal of the
    Gem::Specification, whose `_dump` is the Marshal of the field array `Gem::Specification._load` reads."""
    fields = [
        spec.rubygems_version or "3.3.15",
        spec.specification_version,
        spec.name,
        gem_version(spec.version),
        spec.date or None,  # a 'YYYY-MM-DD' string is what `date=` takes; nil means today
        spec.summary,
        gem_requirement(spec.required_ruby_version),
        gem_requirement(spec.required_rubygems_version),
        spec.platform,
        [_dependency(d) for d in spec.dependencies],
        "",  # rubyforge_project, no longer read
        spec.email[0] if len(spec.email) == 1 else spec.email or None,
        spec.authors,
        spec.description or None,
        spec.homepage or None,
        True,  # has_rdoc, no longer read
        spec.platform,
        spec.licenses,
        spec.metadata,
    ]
    return zlib.compress(marshal.dumps(UserDump("Gem::Specification", marshal.dumps(fields))))


def _dependency_entries(specs: Iterable[GemSpec]) -> list[dict]:
    return [{"name": s.name, "number": s.version, "platform": s.platform,
             "dependencies": [[d.name, d.requirement_text] for d in s.runtime_dependencies]} for s in specs]


def dependencies_marshal(specs: Iterable[GemSpec]) -> bytes:
    """/api/v1/dependencies: an Array of Hashes with Symbol keys (:name, :number, :platform, :dependencies)."""
    return marshal.dumps([{Symbol(k): v for k, v in entry.items()} for entry in _dependency_entries(specs)])


def dependencies_json(specs: Iterable[GemSpec]) -> bytes:
    return json.dumps(_dependency_entries(specs), separators=(",", ":")).encode()
