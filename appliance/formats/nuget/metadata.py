"""The NuGet package format: ids, versions and version ranges as NuGet normalises them, and the .nuspec of
a .nupkg (a zip) read safely.

Pure parsing: strings, bytes and file objects in, dataclasses and InvalidPackage out. Nothing here knows
about Flask, the database or storage; the NuGet blueprint feeds uploads in and hands what comes out to the
packages service.
"""

from __future__ import annotations

import functools
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from appliance.formats.repository_links import parse_repository_reference
from appliance.formats.xml_children import Children, local_name


class InvalidPackage(ValueError):
    """Anything wrong with what the client sent; str(e) is a one-line message the nuget client prints."""


# --- ids ------------------------------------------------------------------------------------------

MAX_ID_LENGTH = 100
# NuGet's rule (PackageIdValidator) with ASCII word characters: parts joined by single '.' or '-'. It
# leaves no room for '/', '\\', '..' or anything else a path could be made of.
_ID = re.compile(r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*")


def check_id(package_id: str) -> str:
    """The id as given, if NuGet accepts it; raises InvalidPackage saying what is wrong."""
    if not package_id:
        raise InvalidPackage("the package id is empty")
    if len(package_id) > MAX_ID_LENGTH:
        raise InvalidPackage(f"the package id is longer than {MAX_ID_LENGTH} characters")
    if not _ID.fullmatch(package_id):
        raise InvalidPackage(
            f"the package id {package_id!r} is not valid: use letters, digits and '_', joined by single '.' or '-'")
    return package_id


# --- versions -------------------------------------------------------------------------------------

_LABEL = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"(?P<numbers>[0-9]+(?:\.[0-9]+){{0,3}})"
    rf"(?:-(?P<release>{_LABEL}(?:\.{_LABEL})*))?"
    rf"(?:\+(?P<metadata>{_LABEL}(?:\.{_LABEL})*))?")
MAX_VERSION_PART = 2**31 - 1
# The width of the version column; it also keeps int() off digit strings past Python's conversion limit.
MAX_VERSION_LENGTH = 255


@dataclass(frozen=True)
class NuGetVersion:
    """A version as NuGet reads one: up to four numbers, a release label, build metadata."""

    major: int
    minor: int
    patch: int
    revision: int
    release: tuple[str, ...] = ()
    metadata: str = ""

    @property
    def normalized(self) -> str:
        """NuGet's normalised form: three numbers (a fourth only when not 0), leading zeros gone, the
        release label kept, build metadata dropped."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.revision:
            text += f".{self.revision}"
        if self.release:
            text += "-" + ".".join(self.release)
        return text

    @property
    def is_prerelease(self) -> bool:
        return bool(self.release)

    @property
    def is_semver2(self) -> bool:
        """Versions that clients speaking only SemVer 1 cannot read (NuGet's semVerLevel=2.0.0 rule)."""
        return len(self.release) > 1 or bool(self.metadata)

    def sort_key(self) -> tuple:
        # SemVer 2 precedence as NuGet compares: a release label sorts before no label; numeric
        # identifiers numerically and before alphanumeric ones, which compare case-insensitively.
        release = tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in self.release)
        return (self.major, self.minor, self.patch, self.revision, not self.release, release)

    def __lt__(self, other: NuGetVersion) -> bool:
        return self.sort_key() < other.sort_key()


@functools.lru_cache(maxsize=4096)
def parse_version(text: str) -> NuGetVersion:
    """'1.02.3.0-Beta.1+sha' -> NuGetVersion; raises InvalidPackage for anything NuGet would refuse."""
    text = (text or "").strip()
    if len(text) > MAX_VERSION_LENGTH:
        raise InvalidPackage(f"the version is longer than {MAX_VERSION_LENGTH} characters")
    match = _VERSION.fullmatch(text)
    if match is None:
        raise InvalidPackage(
            f"the version {text!r} is not a valid NuGet version: use MAJOR.MINOR.PATCH[.REVISION]"
            f"[-PRERELEASE][+METADATA], e.g. 1.0.0 or 1.0.0-beta.1")
    numbers = [int(n) for n in match["numbers"].split(".")]
    if any(n > MAX_VERSION_PART for n in numbers):
        raise InvalidPackage(f"the version {text!r} has a number larger than {MAX_VERSION_PART}")
    numbers += [0] * (4 - len(numbers))
    release = tuple(match["release"].split(".")) if match["release"] else ()
    return NuGetVersion(*numbers, release=release, metadata=match["metadata"] or "")


def normalize_version(text: str) -> str:
    return parse_version(text).normalized


def sorted_versions(versions: list[str]) -> list[str]:
    """Normalised version strings in NuGet's order, lowest first."""
    return sorted(versions, key=lambda v: parse_version(v).sort_key())


# --- version ranges -------------------------------------------------------------------------------

ANY_RANGE = "(, )"


def normalize_range(text: str | None) -> str:
    """A dependency's version (a range in NuGet's interval notation, or a bare minimum version) in the
    normalised form registration documents carry: '1.0' -> '[1.0.0, )', '[1.0]' -> '[1.0.0, 1.0.0]'."""
    text = (text or "").strip()
    if not text:
        return ANY_RANGE
    if text[0] not in "[(":
        return f"[{normalize_version(text)}, )"
    if len(text) < 3 or text[-1] not in "])":
        raise InvalidPackage(f"the version range {text!r} is not valid: use e.g. [1.0.0, 2.0.0)")
    opening, closing, inner = text[0], text[-1], text[1:-1]
    if "," not in inner:
        if opening != "[" or closing != "]":
            raise InvalidPackage(f"the exact version {text!r} must be written [VERSION]")
        exact = normalize_version(inner)
        return f"[{exact}, {exact}]"
    low_text, _, high_text = inner.partition(",")
    if "," in high_text:
        raise InvalidPackage(f"the version range {text!r} has more than two bounds")
    low = normalize_version(low_text) if low_text.strip() else ""
    high = normalize_version(high_text) if high_text.strip() else ""
    if not low and not high and (opening, closing) != ("(", ")"):
        raise InvalidPackage(f"the version range {text!r} has no bound")
    if low and high and parse_version(high) < parse_version(low):
        raise InvalidPackage(f"the version range {text!r} ends below its start")
    return f"{opening}{low}, {high}{closing}"


# --- the .nupkg -----------------------------------------------------------------------------------

# What a package may hold before the appliance refuses to serve it to clients who will unzip it.
MAX_ENTRIES = 20_000
MAX_ENTRY_BYTES = 1 << 30
MAX_TOTAL_BYTES = 4 << 30
# A ratio past this is a bomb, not compression; small entries are left alone as they cannot hurt.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20
MAX_NUSPEC_BYTES = 1 << 20
# zipfile reads a zip's whole central directory into memory, and a ZipInfo per entry it finds there
# whatever count the end record declares: its size is bounded first (MAX_ENTRIES of long paths fit).
MAX_DIRECTORY_BYTES = 8 << 20
SYMBOLS_PACKAGE_TYPE = "SymbolsPackage"


@dataclass(frozen=True)
class Dependency:
    id: str
    range: str  # normalised, see normalize_range


@dataclass(frozen=True)
class DependencyGroup:
    target_framework: str  # empty: every framework
    dependencies: tuple[Dependency, ...] = ()


@dataclass
class Nuspec:
    """What a .nuspec says about its package, in the names of NuGet's registration documents."""

    id: str
    version: NuGetVersion
    original_version: str
    authors: str = ""
    owners: str = ""
    title: str = ""
    description: str = ""
    summary: str = ""
    release_notes: str = ""
    tags: tuple[str, ...] = ()
    project_url: str = ""
    license_url: str = ""
    license_expression: str = ""
    icon_url: str = ""
    language: str = ""
    copyright: str = ""
    min_client_version: str = ""
    require_license_acceptance: bool = False
    repository_url: str = ""
    package_types: tuple[str, ...] = ()
    dependency_groups: tuple[DependencyGroup, ...] = ()
    raw: bytes = field(default=b"", repr=False)

    @property
    def is_symbols_package(self) -> bool:
        return SYMBOLS_PACKAGE_TYPE in self.package_types

    @property
    def repository(self) -> tuple[str, str] | None:
        """(owner, repository) named by `<repository url>`, or None when it names none."""
        if not self.repository_url:
            return None
        return parse_repository_reference(self.repository_url)

    def fields(self) -> dict:
        """The version's metadata as stored, to build registration and search documents from."""
        return {
            "id": self.id,
            "version": self.version.normalized,
            "originalVersion": self.original_version,
            "authors": self.authors,
            "owners": self.owners,
            "title": self.title,
            "description": self.description,
            "summary": self.summary,
            "releaseNotes": self.release_notes,
            "tags": list(self.tags),
            "projectUrl": self.project_url,
            "licenseUrl": self.license_url,
            "licenseExpression": self.license_expression,
            "iconUrl": self.icon_url,
            "language": self.language,
            "copyright": self.copyright,
            "minClientVersion": self.min_client_version,
            "requireLicenseAcceptance": self.require_license_acceptance,
            "repositoryUrl": self.repository_url,
            "packageTypes": list(self.package_types),
            "isPrerelease": self.version.is_prerelease,
            "isSemVer2": self.version.is_semver2 or any(
                _range_is_semver2(d.range) for g in self.dependency_groups for d in g.dependencies),
            "dependencyGroups": [
                {"targetFramework": g.target_framework,
                 "dependencies": [{"id": d.id, "range": d.range} for d in g.dependencies]}
                for g in self.dependency_groups],
        }


def _range_is_semver2(text: str) -> bool:
    bounds = [b.strip() for b in text.strip("[]()").split(",") if b.strip()]
    return any(parse_version(b).is_semver2 for b in bounds)


def _check_entry_name(name: str) -> None:
    """Entry names clients unpack to disk: none may leave the package's folder."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        raise InvalidPackage(f"the package has an entry with an unsafe path: {name!r}")


def _check_zip(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise InvalidPackage(f"the package has {len(entries)} entries; this registry accepts up to {MAX_ENTRIES}")
    total = 0
    for entry in entries:
        _check_entry_name(entry.filename)
        if entry.flag_bits & 0x1:
            raise InvalidPackage(f"{entry.filename} is encrypted: a package's entries must not be")
        if entry.file_size > MAX_ENTRY_BYTES:
            raise InvalidPackage(f"{entry.filename} unpacks to {entry.file_size} bytes; this registry accepts "
                                 f"up to {MAX_ENTRY_BYTES} per file")
        if entry.file_size > RATIO_FLOOR_BYTES and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise InvalidPackage(f"{entry.filename} is compressed more than {MAX_RATIO}:1, which only a zip "
                                 f"bomb is: this registry refuses it")
        total += entry.file_size
    if total > MAX_TOTAL_BYTES:
        raise InvalidPackage(f"the package unpacks to {total} bytes; this registry accepts up to {MAX_TOTAL_BYTES}")
    return entries


NOT_A_ZIP = "the package is not a valid .nupkg (a zip file): create it with `nuget pack` or `dotnet pack`"


def _check_directory(stream: BinaryIO) -> None:
    """The entry count and central directory size the zip's end record declares, checked before
    zipfile reads that directory into memory."""
    try:
        # zipfile's own reader of the end record (Zip64 included): what is checked is what it reads.
        end = zipfile._EndRecData(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        end = None
    if not end:
        raise InvalidPackage(NOT_A_ZIP)
    if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:
        raise InvalidPackage(f"the package has {end[zipfile._ECD_ENTRIES_TOTAL]} entries; this registry "
                             f"accepts up to {MAX_ENTRIES}")
    if end[zipfile._ECD_SIZE] > MAX_DIRECTORY_BYTES:
        raise InvalidPackage(f"the package's zip directory is {end[zipfile._ECD_SIZE]} bytes; this registry "
                             f"accepts up to {MAX_DIRECTORY_BYTES}")


def read_nupkg(stream: BinaryIO) -> Nuspec:
    """The .nuspec at the root of a .nupkg (a seekable file object), parsed; the zip's entry count,
    sizes and compression ratios are checked from its directory before a byte is unpacked, and the size
    of that directory before it is read."""
    _check_directory(stream)
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InvalidPackage(NOT_A_ZIP) from None
    with archive:
        entries = _check_zip(archive)
        nuspecs = [e for e in entries if "/" not in e.filename and e.filename.lower().endswith(".nuspec")]
        if len(nuspecs) != 1:
            raise InvalidPackage("the package must hold exactly one .nuspec file at its root; it holds "
                                 f"{len(nuspecs)}: create it with `nuget pack` or `dotnet pack`")
        if nuspecs[0].file_size > MAX_NUSPEC_BYTES:
            raise InvalidPackage(f"the .nuspec is larger than {MAX_NUSPEC_BYTES} bytes")
        try:
            with archive.open(nuspecs[0]) as member:
                data = member.read(MAX_NUSPEC_BYTES + 1)
        # zlib.error: a broken deflate stream (found by tests/fuzz) is the sender's fault, not ours.
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError,
                zlib.error) as e:
            raise InvalidPackage(f"the package's .nuspec cannot be unpacked: {e}") from None
        if len(data) > MAX_NUSPEC_BYTES:
            raise InvalidPackage(f"the .nuspec is larger than {MAX_NUSPEC_BYTES} bytes")
    return parse_nuspec(data)


def _dependencies(parent: Element) -> tuple[Dependency, ...]:
    found = []
    for dependency in Children(parent).all("dependency"):
        dependency_id = check_id((dependency.get("id") or "").strip())
        found.append(Dependency(dependency_id, normalize_range(dependency.get("version"))))
    return tuple(found)


def _dependency_groups(metadata: Children) -> tuple[DependencyGroup, ...]:
    dependencies = metadata.child("dependencies")
    if dependencies is None:
        return ()
    groups = [DependencyGroup((g.get("targetFramework") or "").strip(), _dependencies(g))
              for g in Children(dependencies).all("group")]
    flat = _dependencies(dependencies)
    if flat:
        # The old flat form (no groups) applies to every framework.
        groups.insert(0, DependencyGroup("", flat))
    return tuple(groups)


def parse_nuspec(data: bytes) -> Nuspec:
    """A .nuspec's metadata. The XML is read without DTDs, entities or external references: a nuspec
    that declares any of them is refused, never expanded."""
    try:
        root = safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidPackage("the .nuspec declares a DTD or entities, which this registry does not read: "
                             "remove the <!DOCTYPE> and entity declarations") from None
    except ParseError as e:
        raise InvalidPackage(f"the .nuspec is not well-formed XML: {e}") from None
    except (LookupError, ValueError) as e:
        # expat's refusals of the declared encoding: unknown (`x-nope`), or one it cannot read
        raise InvalidPackage(f"the .nuspec's XML declaration names an encoding this registry cannot read: {e}") from None
    if local_name(root.tag) != "package":
        raise InvalidPackage(f"the .nuspec's root element is <{local_name(root.tag)}>, not <package>")
    meta_element = Children(root).child("metadata")
    if meta_element is None:
        raise InvalidPackage("the .nuspec has no <metadata>")
    meta = Children(meta_element)
    package_id = check_id(meta.text("id"))
    original_version = meta.text("version")
    version = parse_version(original_version)
    license_element = meta.child("license")
    repository = meta.child("repository")
    return Nuspec(
        id=package_id,
        version=version,
        original_version=original_version,
        authors=meta.text("authors"),
        owners=meta.text("owners"),
        title=meta.text("title"),
        description=meta.text("description"),
        summary=meta.text("summary"),
        release_notes=meta.text("releaseNotes"),
        tags=tuple(t for t in re.split(r"[\s,;]+", meta.text("tags")) if t),
        project_url=meta.text("projectUrl"),
        license_url=meta.text("licenseUrl"),
        license_expression=((license_element.text or "").strip()
                            if license_element is not None and license_element.get("type") == "expression"
                            else ""),
        icon_url=meta.text("iconUrl"),
        language=meta.text("language"),
        copyright=meta.text("copyright"),
        min_client_version=(meta_element.get("minClientVersion") or "").strip(),
        require_license_acceptance=meta.text("requireLicenseAcceptance").lower() == "true",
        repository_url=((repository.get("url") or "").strip() if repository is not None else ""),
        package_types=tuple((t.get("name") or "").strip()
                            for t in Children(meta.child("packageTypes")).all("packageType")),
        dependency_groups=_dependency_groups(meta),
        raw=data,
    )


def nupkg_filename(package_id: str, version: str) -> str:
    """The flat container's name of a package file: lower-case id and normalised version."""
    return f"{package_id.lower()}.{version.lower()}.nupkg"


def snupkg_filename(package_id: str, version: str) -> str:
    return f"{package_id.lower()}.{version.lower()}.snupkg"


def nuspec_filename(package_id: str) -> str:
    return f"{package_id.lower()}.nuspec"


# --- the legacy (v2, OData) feed: what `nuget list` reads --------------------------------------------

ATOM = "http://www.w3.org/2005/Atom"
DATA_SERVICES = "http://schemas.microsoft.com/ado/2007/08/dataservices"
DATA_SERVICES_METADATA = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"


@dataclass(frozen=True)
class LegacyEntry:
    """One version as a row of the v2 feed."""

    id: str
    version: str
    content_url: str
    title: str = ""
    summary: str = ""
    description: str = ""
    authors: str = ""
    tags: str = ""
    project_url: str = ""
    downloads: int = 0
    published: str = ""  # ISO 8601; 1900 marks an unlisted version, as the v2 protocol does
    is_prerelease: bool = False


def parse_odata_string(text: str | None) -> str:
    """An OData string literal ('it''s') -> its value; a bare value is taken as it is."""
    text = (text or "").strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def legacy_feed(feed_url: str, entries: list[LegacyEntry]) -> bytes:
    """An Atom feed of `entries`, with the properties NuGet's v2 feed parser reads."""
    feed = Element(f"{{{ATOM}}}feed")
    SubElement(feed, f"{{{ATOM}}}id").text = feed_url
    SubElement(feed, f"{{{ATOM}}}title").text = "Packages"
    for item in entries:
        entry = SubElement(feed, f"{{{ATOM}}}entry")
        SubElement(entry, f"{{{ATOM}}}id").text = f"{feed_url}(Id='{item.id}',Version='{item.version}')"
        SubElement(entry, f"{{{ATOM}}}title").text = item.id
        SubElement(entry, f"{{{ATOM}}}summary").text = item.summary
        author = SubElement(entry, f"{{{ATOM}}}author")
        for name in (a.strip() for a in item.authors.split(",")):
            if name:
                SubElement(author, f"{{{ATOM}}}name").text = name
        SubElement(entry, f"{{{ATOM}}}content", {"type": "application/zip", "src": item.content_url})
        properties = SubElement(entry, f"{{{DATA_SERVICES_METADATA}}}properties")
        for name, value in (("Id", item.id), ("Version", item.version), ("NormalizedVersion", item.version),
                            ("Title", item.title), ("Description", item.description), ("Tags", item.tags),
                            ("ProjectUrl", item.project_url), ("DownloadCount", str(item.downloads)),
                            ("Published", item.published), ("IsPrerelease", str(item.is_prerelease).lower())):
            SubElement(properties, f"{{{DATA_SERVICES}}}{name}").text = value
    return tostring(feed, xml_declaration=True, encoding="utf-8")
