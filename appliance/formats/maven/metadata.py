"""The Maven repository layout: paths, file names, poms, Gradle module files, checksums, version order
and the maven-metadata.xml documents the registry generates.

Pure parsing: strings and bytes in, dataclasses, bytes and MavenError out. Nothing here knows about
Flask, the database or storage; the maven blueprint feeds request paths and bodies in and hands what
comes out to the packages service.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from appliance.formats.xml_children import Children, local_name


class MavenError(ValueError):
    """Anything wrong with what the client sent; str(e) is a one-line message a user can act on."""


class InvalidPath(MavenError):
    """A path that is not a file of the Maven repository layout."""


class InvalidDescriptor(MavenError):
    """A pom or Gradle module file that cannot be read, or that names other coordinates."""


# ---- names and paths ------------------------------------------------------------------------------

CHECKSUM_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
METADATA_FILE = "maven-metadata.xml"
SNAPSHOT = "SNAPSHOT"
MAX_NAME_LENGTH = 255
# Maven's rule for groupId and artifactId; versions may add '+' (semver build metadata).
_ID = re.compile(r"[A-Za-z0-9_.-]+")
_GROUP_PART = re.compile(r"[A-Za-z0-9_-]+")
_VERSION = re.compile(r"[A-Za-z0-9_.+-]+")
_EXTENSION = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_CLASSIFIER = re.compile(r"[A-Za-z0-9_-]+")
_TIMESTAMP_BUILD = re.compile(r"(\d{8}\.\d{6})-(\d+)")
_LAYOUT_HINT = "GROUP/PATH/ARTIFACT/VERSION/ARTIFACT-VERSION[-CLASSIFIER].EXT"


@dataclass(frozen=True)
class Coordinates:
    group_id: str
    artifact_id: str

    @property
    def package_name(self) -> str:
        return f"{self.group_id}:{self.artifact_id}"

    @property
    def directory(self) -> str:
        return f"{self.group_id.replace('.', '/')}/{self.artifact_id}"


@dataclass(frozen=True)
class SnapshotBuild:
    """One deploy of a SNAPSHOT version: `1.0-20240102.030405-7` is timestamp 20240102.030405, build 7."""

    timestamp: str
    number: int

    def value(self, base_version: str) -> str:
        return f"{base_version[: -len(SNAPSHOT)]}{self.timestamp}-{self.number}"


@dataclass(frozen=True)
class ArtifactFile:
    """A file of a version: `ARTIFACT-VERSION[-CLASSIFIER].EXT` in `GROUP/ARTIFACT/VERSION/`."""

    coordinates: Coordinates
    version: str  # the version directory: `1.0`, or `1.0-SNAPSHOT` for every build of that snapshot
    filename: str
    classifier: str
    extension: str  # `jar`, `pom`, `module`, `jar.asc`, `tar.gz`, ...
    build: SnapshotBuild | None  # None for releases and for the plain `-SNAPSHOT` name

    @property
    def is_snapshot(self) -> bool:
        return is_snapshot(self.version)

    @property
    def is_pom(self) -> bool:
        return self.extension == "pom" and not self.classifier

    @property
    def is_module(self) -> bool:
        return self.extension == "module" and not self.classifier

    @property
    def is_descriptor(self) -> bool:
        return self.is_pom or self.is_module

    @property
    def is_signature(self) -> bool:
        return self.extension.endswith(".asc")


@dataclass(frozen=True)
class MetadataFile:
    """maven-metadata.xml of an artifact (version None) or of one SNAPSHOT version."""

    coordinates: Coordinates
    version: str | None


@dataclass(frozen=True)
class MavenPath:
    """What a request path names: a file or a metadata document, or a checksum of one (`checksum`)."""

    target: ArtifactFile | MetadataFile
    checksum: str | None = None


def is_snapshot(version: str) -> bool:
    return version.endswith(f"-{SNAPSHOT}")


def _check_segments(segments: list[str], path: str) -> None:
    for segment in segments:
        if segment in (".", ".."):
            raise InvalidPath(
                f"the path {path!r} climbs out of its directory ('{segment}'): use {_LAYOUT_HINT}"
            )
        if not segment:
            raise InvalidPath(f"the path {path!r} has an empty segment ('//'): use {_LAYOUT_HINT}")


def _check_characters(path: str) -> None:
    if "\\" in path:
        raise InvalidPath(f"the path {path!r} contains a backslash: use '/' ({_LAYOUT_HINT})")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise InvalidPath("the path contains control characters")


def parse_coordinates(group_segments: list[str], artifact_id: str) -> Coordinates:
    """GROUP/PATH segments and an artifactId -> Coordinates, by Maven's naming rules."""
    if not group_segments:
        raise InvalidPath(f"the path has no groupId: use {_LAYOUT_HINT}")
    for part in group_segments:
        if not _GROUP_PART.fullmatch(part):
            raise InvalidPath(
                f"invalid groupId directory {part!r}: the groupId's dots become '/', and each part "
                "may use letters, digits, '_' and '-'"
            )
    if not _ID.fullmatch(artifact_id):
        raise InvalidPath(f"invalid artifactId {artifact_id!r}: use letters, digits, '_', '-' and '.'")
    coordinates = Coordinates(".".join(group_segments), artifact_id)
    if len(coordinates.package_name) > MAX_NAME_LENGTH:
        raise InvalidPath(f"groupId:artifactId is longer than {MAX_NAME_LENGTH} characters")
    return coordinates


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version) or len(version) > MAX_NAME_LENGTH:
        raise InvalidPath(f"invalid version {version!r}: use letters, digits, '.', '-', '_' and '+'")
    if version == SNAPSHOT or version.startswith("."):
        raise InvalidPath(f"invalid version {version!r}")
    return version


def parse_filename(artifact_id: str, version: str, filename: str) -> tuple[str, str, SnapshotBuild | None]:
    """`ARTIFACT-VERSION[-CLASSIFIER].EXT` -> (classifier, extension, snapshot build).

    In a SNAPSHOT version the VERSION of a file name is either the directory's (`1.0-SNAPSHOT`) or a
    timestamped build of it (`1.0-20240102.030405-7`).
    """
    expected = f"{artifact_id}-{version}[-CLASSIFIER].EXT"
    prefix = f"{artifact_id}-"
    if not filename.startswith(prefix):
        raise InvalidPath(f"{filename} is not a file of {artifact_id} {version}: name it {expected}")
    rest = filename[len(prefix) :]
    build = None
    if rest.startswith(version):
        tail = rest[len(version) :]
    elif is_snapshot(version) and rest.startswith(version[: -len(SNAPSHOT)]):
        stamp = _TIMESTAMP_BUILD.match(rest, len(version) - len(SNAPSHOT))
        if stamp is None:
            raise InvalidPath(
                f"{filename} is not a file of {artifact_id} {version}: name it {expected}, or "
                f"ARTIFACT-{version[: -len(SNAPSHOT)]}YYYYMMDD.HHMMSS-BUILD[-CLASSIFIER].EXT"
            )
        build = SnapshotBuild(stamp.group(1), int(stamp.group(2)))
        tail = rest[stamp.end() :]
    else:
        raise InvalidPath(f"{filename} is not a file of {artifact_id} {version}: name it {expected}")
    if tail.startswith("-"):
        classifier, dot, extension = tail[1:].partition(".")
        if not dot or not _CLASSIFIER.fullmatch(classifier):
            raise InvalidPath(f"{filename} has no valid classifier and extension: name it {expected}")
    elif tail.startswith("."):
        classifier, extension = "", tail[1:]
    else:
        raise InvalidPath(f"{filename} is not a file of {artifact_id} {version}: name it {expected}")
    if not _EXTENSION.fullmatch(extension):
        raise InvalidPath(f"{filename} has no valid extension: name it {expected}")
    return classifier, extension, build


def split_checksum(filename: str) -> tuple[str, str | None]:
    """`x.jar.sha1` -> ('x.jar', 'sha1'); other names come back with None."""
    base, dot, suffix = filename.rpartition(".")
    if dot and suffix in CHECKSUM_LENGTHS and base:
        return base, suffix
    return filename, None


def parse_path(path: str) -> MavenPath:
    """A path below OWNER/REPOSITORY/ -> what it names, or InvalidPath saying what is wrong with it."""
    _check_characters(path)
    segments = path.split("/")
    _check_segments(segments, path)
    filename, checksum = split_checksum(segments[-1])
    if checksum and split_checksum(filename)[1]:
        raise InvalidPath(
            f"{segments[-1]} is a checksum of a checksum: only files and metadata have checksums"
        )
    directories = segments[:-1]
    if filename == METADATA_FILE:
        if len(directories) >= 3 and is_snapshot(directories[-1]):
            coordinates = parse_coordinates(directories[:-2], directories[-2])
            return MavenPath(MetadataFile(coordinates, check_version(directories[-1])), checksum)
        if len(directories) < 2:
            raise InvalidPath(
                f"{path} is not in an artifact's directory: use GROUP/PATH/ARTIFACT/{METADATA_FILE}"
            )
        return MavenPath(MetadataFile(parse_coordinates(directories[:-1], directories[-1]), None), checksum)
    if len(directories) < 3:
        raise InvalidPath(f"{path} is not a file of the Maven layout: use {_LAYOUT_HINT}")
    coordinates = parse_coordinates(directories[:-2], directories[-2])
    version = check_version(directories[-1])
    classifier, extension, build = parse_filename(coordinates.artifact_id, version, filename)
    return MavenPath(ArtifactFile(coordinates, version, filename, classifier, extension, build), checksum)


def directory_candidates(path: str) -> list[tuple[Coordinates, str | None]]:
    """What a directory path may name, most specific first: a version (GROUP/ARTIFACT/VERSION), then a
    package (GROUP/ARTIFACT). Used for DELETE, which mvn and gradle never send."""
    _check_characters(path)
    segments = path.strip("/").split("/")
    _check_segments(segments, path)
    found: list[tuple[Coordinates, str | None]] = []
    if len(segments) >= 3:
        try:
            found.append((parse_coordinates(segments[:-2], segments[-2]), check_version(segments[-1])))
        except InvalidPath:
            pass
    if len(segments) >= 2:
        try:
            found.append((parse_coordinates(segments[:-1], segments[-1]), None))
        except InvalidPath:
            pass
    if not found:
        raise InvalidPath(
            f"{path} names no package or version: use GROUP/PATH/ARTIFACT/ or GROUP/PATH/ARTIFACT/VERSION/"
        )
    return found


# ---- checksums ------------------------------------------------------------------------------------


def parse_checksum(body: bytes, algorithm: str) -> str:
    """The hex digest in a checksum file: `HEX`, `HEX  FILENAME` or `ALG (FILENAME) = HEX`."""
    length = CHECKSUM_LENGTHS[algorithm]
    text = body.decode("ascii", errors="replace")
    match = re.search(rf"(?<![0-9A-Za-z])[0-9A-Fa-f]{{{length}}}(?![0-9A-Za-z])", text)
    if match is None:
        raise MavenError(f"the {algorithm} checksum file holds no {length}-digit hexadecimal digest")
    return match.group(0).lower()


# ---- poms and Gradle module files -----------------------------------------------------------------


@dataclass
class Descriptor:
    """What a pom or a Gradle module file says about its version."""

    group_id: str
    artifact_id: str
    version: str
    kind: str  # "pom" or "module"
    fields: dict = field(default_factory=dict)  # name, description, url, licenses, packaging, ...

    @property
    def summary(self) -> str:
        return str(self.fields.get("description") or self.fields.get("name") or "")[:1000]

    @property
    def license(self) -> str | None:
        names = [lic.get("name") or lic.get("url") for lic in self.fields.get("licenses", [])]
        text = ", ".join(n for n in names if n)
        return text[:255] or None


# A property name is short and holds no '$', '{' or '}': a bounded match cannot rescan the pom from
# every '${' of a long run that never closes.
_PROPERTY = re.compile(r"\$\{([^${}]{1,256})\}")
MAX_INTERPOLATED = 4096
MAX_INTERPOLATION_ROUNDS = 5
# What substitution may write for one pom in all, whatever its fields and dependencies make it do.
MAX_INTERPOLATION_WORK = 1 << 20
# Markup ('<') in one pom: a real one, a large BOM included, has some thousands; 8 MiB of elements took
# seconds to read into a tree and walk.
MAX_POM_MARKUP = 200_000


class _Interpolation:
    """`${name}` resolved from one pom's own properties, a few rounds deep; unknown names stay. A value
    whose expansion would pass MAX_INTERPOLATED is left as it was before that round: the length is
    counted piece by piece while substituting, so nothing past the cap is ever built. What the pom
    makes substitution write in all is bounded too; past that the pom is refused."""

    def __init__(self, properties: dict[str, str]):
        self.properties = properties
        self.work_left = MAX_INTERPOLATION_WORK

    def __call__(self, value: str) -> str:
        for _ in range(MAX_INTERPOLATION_ROUNDS):
            resolved = self._round(value)
            if resolved is None or resolved == value:
                break
            value = resolved
        return value

    def _round(self, value: str) -> str | None:
        pieces: list[str] = []
        length = position = 0
        for match in _PROPERTY.finditer(value):
            replacement = self.properties.get(match.group(1), match.group(0))
            length += match.start() - position + len(replacement)
            if length > MAX_INTERPOLATED:
                return None
            self.work_left -= match.start() - position + len(replacement)
            if self.work_left < 0:
                raise InvalidDescriptor(
                    f"the pom's ${{...}} properties expand to more than {MAX_INTERPOLATION_WORK} characters "
                    f"in all: this registry reads poms that expand less")
            pieces += (value[position:match.start()], replacement)
            position = match.end()
        if not pieces:
            return value
        if length + len(value) - position > MAX_INTERPOLATED:
            return None
        pieces.append(value[position:])
        return "".join(pieces)


def parse_pom(data: bytes) -> Descriptor:
    """A pom's coordinates and descriptive fields. The XML is read without DTDs, entities or external
    references: a pom that declares any of them is refused, never expanded."""
    if data.count(b"<") > MAX_POM_MARKUP:
        raise InvalidDescriptor(
            f"the pom has more than {MAX_POM_MARKUP} tags: this registry reads smaller poms")
    try:
        root = safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidDescriptor(
            "the pom declares a DTD or entities, which this registry does not read: "
            "remove the <!DOCTYPE> and entity declarations"
        ) from None
    except ParseError as e:
        raise InvalidDescriptor(f"the pom is not well-formed XML: {e}") from None
    except (LookupError, ValueError) as e:
        # expat's refusals of the declared encoding: unknown (`x-nope`), or one it cannot read
        raise InvalidDescriptor(f"the pom's XML declaration names an encoding this registry cannot read: {e}") from None
    if local_name(root.tag) != "project":
        raise InvalidDescriptor(f"the pom's root element is <{local_name(root.tag)}>, not <project>")
    project = Children(root)
    parent_element = project.child("parent")
    parent = Children(parent_element)
    declared = project.child("properties")
    properties = {
        local_name(p.tag): (p.text or "").strip()
        for p in (declared if declared is not None else [])
        if isinstance(p.tag, str)
    }
    raw = {
        "groupId": project.text("groupId") or parent.text("groupId"),
        "artifactId": project.text("artifactId"),
        "version": project.text("version") or parent.text("version"),
    }
    for key in ("groupId", "artifactId", "version"):
        for prefix in ("project.", "pom.", ""):
            properties.setdefault(prefix + key, raw[key])
    for key in ("groupId", "version"):
        properties.setdefault(f"project.parent.{key}", parent.text(key))
    interpolate = _Interpolation(properties)
    coordinates = {k: interpolate(v) for k, v in raw.items()}
    missing = [k for k, v in coordinates.items() if not v]
    if missing:
        raise InvalidDescriptor(f"the pom has no {', '.join(missing)}")

    def described(name: str) -> str:
        return interpolate(project.text(name))

    fields: dict = {
        "packaging": described("packaging") or "jar",
        "name": described("name"),
        "description": described("description"),
        "url": described("url"),
        "licenses": [
            {"name": lic.text("name"), "url": lic.text("url")}
            for lic in map(Children, Children(project.child("licenses")).all("license"))
        ],
        "dependencies": [
            {
                key: interpolate(dep.text(key))
                for key in ("groupId", "artifactId", "version", "type", "classifier", "scope", "optional")
                if dep.text(key)
            }
            for dep in map(Children, Children(project.child("dependencies")).all("dependency"))
        ],
    }
    scm_url = Children(project.child("scm")).text("url")
    if scm_url:
        fields["scm"] = scm_url
    if parent_element is not None:
        fields["parent"] = {k: parent.text(k) for k in ("groupId", "artifactId", "version")}
    return Descriptor(
        coordinates["groupId"],
        coordinates["artifactId"],
        coordinates["version"],
        "pom",
        {k: v for k, v in fields.items() if v},
    )


def parse_module(data: bytes) -> Descriptor:
    """A Gradle module metadata file (`.module`, JSON): its component's coordinates and variants."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidDescriptor(f"the Gradle module file is not JSON: {e}") from None
    except RecursionError:
        raise InvalidDescriptor("the Gradle module file nests too deeply") from None
    if not isinstance(document, dict):
        raise InvalidDescriptor("the Gradle module file must be a JSON object")
    component = document.get("component")
    if not isinstance(component, dict):
        raise InvalidDescriptor("the Gradle module file has no component object")
    values = {key: component.get(key) for key in ("group", "module", "version")}
    bad = [key for key, value in values.items() if not isinstance(value, str) or not value]
    if bad:
        raise InvalidDescriptor(f"the Gradle module file's component has no {', '.join(bad)}")
    variants = document.get("variants")
    fields = {
        "formatVersion": str(document.get("formatVersion", "")),
        "variants": [v["name"] for v in variants if isinstance(v, dict) and isinstance(v.get("name"), str)]
        if isinstance(variants, list)
        else [],
    }
    return Descriptor(
        values["group"],
        values["module"],
        values["version"],
        "module",
        {"gradle": {k: v for k, v in fields.items() if v}},
    )


def check_descriptor(descriptor: Descriptor, artifact: ArtifactFile) -> None:
    """The descriptor must name the coordinates of the path it is deployed to. A value the pom takes
    from a parent's properties (still `${...}` here) cannot be checked and is taken as the path says."""
    what = "pom" if descriptor.kind == "pom" else "Gradle module file"
    declared = {
        "groupId": descriptor.group_id,
        "artifactId": descriptor.artifact_id,
        "version": descriptor.version,
    }
    expected = {
        "groupId": artifact.coordinates.group_id,
        "artifactId": artifact.coordinates.artifact_id,
        "version": artifact.version,
    }
    for key, value in declared.items():
        if "${" in value:
            continue
        if value != expected[key]:
            raise InvalidDescriptor(
                f"the {what} says {key} {value}, but it was deployed to {artifact.coordinates.directory}/"
                f"{artifact.version}/ ({key} {expected[key]}): deploy it to the path of its own coordinates"
            )


# ---- version order --------------------------------------------------------------------------------

_QUALIFIERS = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE_INDEX = str(_QUALIFIERS.index(""))


def _qualifier_key(value: str) -> str:
    if value in _QUALIFIERS:
        return str(_QUALIFIERS.index(value))
    return f"{len(_QUALIFIERS)}-{value}"


def _string_item(value: str, followed_by_digit: bool) -> tuple[str, str]:
    if followed_by_digit and len(value) == 1:
        value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
    return ("str", _ALIASES.get(value, value))


def _is_null(item) -> bool:
    kind, value = item
    if kind == "int":
        return value == 0
    if kind == "str":
        return value == ""
    return not value


def _normalize(items: list) -> None:
    for i in range(len(items) - 1, -1, -1):
        if _is_null(items[i]):
            del items[i]
        elif items[i][0] != "list":
            break


def _parse_version(version: str):
    """Maven's ComparableVersion items: ('int', n), ('str', qualifier) and ('list', [items])."""
    version = version.lower()
    root: list = []
    current = root
    stack = [root]
    is_digit = False
    start = 0

    def item(digit: bool, text: str):
        return ("int", int(text)) if digit else _string_item(text, False)

    def open_list():
        nonlocal current
        new: list = []
        current.append(("list", new))
        current = new
        stack.append(new)

    for i, ch in enumerate(version):
        if ch in ".-":
            current.append(("int", 0) if i == start else item(is_digit, version[start:i]))
            start = i + 1
            if ch == "-":
                open_list()
        elif ch in "0123456789":
            if not is_digit and i > start:
                current.append(_string_item(version[start:i], True))
                start = i
                open_list()
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(item(True, version[start:i]))
                start = i
                open_list()
            is_digit = False
    if len(version) > start:
        current.append(item(is_digit, version[start:]))
    while stack:
        _normalize(stack.pop())
    return ("list", root)


def _compare(left, right) -> int:
    """Compare two items; `right` may be None (Maven's null item)."""
    kind, value = left
    if kind == "int":
        if right is None:
            return 0 if value == 0 else 1
        if right[0] == "int":
            return (value > right[1]) - (value < right[1])
        return 1
    if kind == "str":
        if right is None:
            key = _qualifier_key(value)
            return (key > _RELEASE_INDEX) - (key < _RELEASE_INDEX)
        if right[0] == "int" or right[0] == "list":
            return -1
        a, b = _qualifier_key(value), _qualifier_key(right[1])
        return (a > b) - (a < b)
    if right is None:
        return _compare(value[0], None) if value else 0
    if right[0] == "int":
        return -1
    if right[0] == "str":
        return 1
    others = right[1]
    for i in range(max(len(value), len(others))):
        mine = value[i] if i < len(value) else None
        theirs = others[i] if i < len(others) else None
        if mine is None:
            result = 0 if theirs is None else -_compare(theirs, None)
        else:
            result = _compare(mine, theirs)
        if result:
            return result
    return 0


def compare_versions(a: str, b: str) -> int:
    """Maven's version order (ComparableVersion): 1.0-alpha < 1.0-rc1 < 1.0-SNAPSHOT < 1.0 < 1.0-sp1 < 1.0.1."""
    return _compare(_parse_version(a), _parse_version(b))


version_key = functools.cmp_to_key(compare_versions)


# ---- maven-metadata.xml ---------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def artifact_metadata(coordinates: Coordinates, versions: Iterable[str], last_updated: datetime) -> bytes:
    """The artifact-level maven-metadata.xml: every version in Maven's order, the newest as latest and
    the newest non-SNAPSHOT as release."""
    ordered = sorted(set(versions), key=version_key)
    releases = [v for v in ordered if not is_snapshot(v)]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<metadata>",
        f"  <groupId>{escape(coordinates.group_id)}</groupId>",
        f"  <artifactId>{escape(coordinates.artifact_id)}</artifactId>",
        "  <versioning>",
    ]
    if ordered:
        lines.append(f"    <latest>{escape(ordered[-1])}</latest>")
    if releases:
        lines.append(f"    <release>{escape(releases[-1])}</release>")
    lines.append("    <versions>")
    lines += [f"      <version>{escape(v)}</version>" for v in ordered]
    lines += [
        "    </versions>",
        f"    <lastUpdated>{_stamp(last_updated)}</lastUpdated>",
        "  </versioning>",
        "</metadata>",
        "",
    ]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class StoredFile:
    """A file name of a SNAPSHOT version and when it was stored, as the metadata builder needs it."""

    filename: str
    stored_at: datetime


def snapshot_metadata(coordinates: Coordinates, version: str, files: Iterable[StoredFile]) -> bytes:
    """The maven-metadata.xml of one SNAPSHOT version: the newest timestamped build (timestamp and
    buildNumber, from which mvn numbers its next deploy) and, per classifier and extension, the newest
    file, which is what mvn and gradle download for `VERSION-SNAPSHOT`."""
    newest: dict[tuple[str, str], tuple[tuple, str, datetime]] = {}
    latest_build: SnapshotBuild | None = None
    last_updated: datetime | None = None
    for stored in files:
        try:
            classifier, extension, build = parse_filename(coordinates.artifact_id, version, stored.filename)
        except InvalidPath:
            continue
        value = build.value(version) if build else version
        rank = (build.number, build.timestamp) if build else (-1, "")
        key = (classifier, extension)
        if key not in newest or rank >= newest[key][0]:
            newest[key] = (rank, value, stored.stored_at)
        if build and (
            latest_build is None
            or (build.number, build.timestamp) > (latest_build.number, latest_build.timestamp)
        ):
            latest_build = build
        if last_updated is None or stored.stored_at > last_updated:
            last_updated = stored.stored_at
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<metadata modelVersion="1.1.0">',
        f"  <groupId>{escape(coordinates.group_id)}</groupId>",
        f"  <artifactId>{escape(coordinates.artifact_id)}</artifactId>",
        f"  <version>{escape(version)}</version>",
        "  <versioning>",
    ]
    if latest_build is not None:
        lines += [
            "    <snapshot>",
            f"      <timestamp>{latest_build.timestamp}</timestamp>",
            f"      <buildNumber>{latest_build.number}</buildNumber>",
            "    </snapshot>",
        ]
    if last_updated is not None:
        lines.append(f"    <lastUpdated>{_stamp(last_updated)}</lastUpdated>")
    lines.append("    <snapshotVersions>")
    for (classifier, extension), (_, value, stored_at) in sorted(newest.items()):
        lines.append("      <snapshotVersion>")
        if classifier:
            lines.append(f"        <classifier>{escape(classifier)}</classifier>")
        lines += [
            f"        <extension>{escape(extension)}</extension>",
            f"        <value>{escape(value)}</value>",
            f"        <updated>{_stamp(stored_at)}</updated>",
            "      </snapshotVersion>",
        ]
    lines += ["    </snapshotVersions>", "  </versioning>", "</metadata>", ""]
    return "\n".join(lines).encode()


# ---- content types --------------------------------------------------------------------------------

_CONTENT_TYPES = {
    "pom": "application/xml",
    "xml": "application/xml",
    "module": "application/json",
    "json": "application/json",
    "jar": "application/java-archive",
    "war": "application/java-archive",
    "ear": "application/java-archive",
    "aar": "application/java-archive",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tgz": "application/gzip",
    "asc": "application/pgp-signature",
    "txt": "text/plain",
}


def content_type(filename: str) -> str:
    """The media type a file of the repository is served with, from its extension."""
    if split_checksum(filename)[1]:
        return "text/plain"
    return _CONTENT_TYPES.get(filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")


# ---- group-level metadata (plugin prefixes) and directory listings ---------------------------------------


@dataclass(frozen=True)
class Plugin:
    """A maven-plugin of a group as the group's maven-metadata.xml lists it."""

    artifact_id: str
    name: str

    @property
    def prefix(self) -> str:
        """The goal prefix Maven's own convention gives it: `maven-X-plugin` and `X-maven-plugin` are X
        (`mvn X:goal`); any other artifactId is its own prefix."""
        for pattern in (r"maven-(.+)-plugin", r"(.+)-maven-plugin"):
            match = re.fullmatch(pattern, self.artifact_id)
            if match:
                return match.group(1)
        return self.artifact_id


def group_metadata(plugins: Iterable[Plugin]) -> bytes:
    """The group-level maven-metadata.xml: the group's plugins and their prefixes, which `mvn PREFIX:goal`
    reads for each of its plugin groups."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<metadata>", "  <plugins>"]
    for plugin in sorted(plugins, key=lambda p: p.artifact_id):
        lines += ["    <plugin>", f"      <name>{escape(plugin.name)}</name>",
                  f"      <prefix>{escape(plugin.prefix)}</prefix>",
                  f"      <artifactId>{escape(plugin.artifact_id)}</artifactId>", "    </plugin>"]
    lines += ["  </plugins>", "</metadata>", ""]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class Entry:
    """A line of a directory listing: a name (a directory's ends in '/'), its size and time if a file."""

    name: str
    size: int | None = None
    modified: datetime | None = None


def directory_listing(path: str, entries: Iterable[Entry]) -> str:
    """An HTML index of a repository directory, as Maven Central's and Apache's look: a parent link and
    a line per entry, names escaped (no markup from a package reaches the page)."""
    title = escape(f"Index of {path}")
    rows = ['<a href="../">../</a>'] if path.strip("/").count("/") > 1 else []
    for entry in sorted(entries, key=lambda e: (not e.name.endswith("/"), e.name)):
        link = escape(entry.name, {'"': "&quot;"})
        when = entry.modified.strftime("%Y-%m-%d %H:%M") if entry.modified else ""
        size = str(entry.size) if entry.size is not None else "-"
        rows.append(f'<a href="{link}" title="{link}">{escape(entry.name)}</a>'.ljust(80) + f" {when:>16} {size:>12}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n"
            f"<body><h1>{title}</h1><hr><pre>\n" + "\n".join(rows) + "\n</pre><hr></body></html>\n")
