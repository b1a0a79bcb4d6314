"""What `gem push` uploads, read without running or constructing anything of Ruby's.

A .gem is a plain tar holding `metadata.gz` (the Gem::Specification as YAML with Ruby tags),
`data.tar.gz` (the files) and `checksums.yaml.gz` (their digests). The YAML is read with PyYAML's safe
loader taught exactly the Ruby tags a gemspec uses, each built as plain data; any other tag is refused.
Names, versions and platforms are checked as RubyGems checks them, and so that none can form a path.
"""
from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import io
import re
import tarfile
import zlib
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

import yaml

# Bounds on what a client may make us read: the spec is small; the data can be large but is streamed.
MAX_METADATA_GZ = 1024 * 1024
MAX_METADATA_YAML = 4 * 1024 * 1024
MAX_CHECKSUMS_GZ = 64 * 1024
MAX_DATA_UNPACKED = 1024**3
MAX_MEMBERS = 16
# tarfile reads a header in about 25 us: 100,000 files (a gem of 700 KB) kept a worker busy 2.3 s. The
# largest gems hold some thousands.
MAX_DATA_MEMBERS = 20_000
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 25_000

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
VERSION_PATTERN = re.compile(r"[0-9]+(?:\.[0-9A-Za-z]+){0,30}")
PLATFORM_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]{0,30}(?:-[A-Za-z0-9_][A-Za-z0-9_.]{0,30}){0,3}")
RUBY_PLATFORM = "ruby"
OPERATORS = ("=", "!=", ">", "<", ">=", "<=", "~>")
DEPENDENCY_TYPES = ("runtime", "development")
# The members a .gem may hold; signatures of signed gems come as '*.sig' beside them.
KNOWN_MEMBERS = ("metadata.gz", "data.tar.gz", "checksums.yaml.gz")
CHECKSUM_ALGORITHMS = {"SHA256": "sha256", "SHA512": "sha512", "SHA1": "sha1"}
# Gem::Specification::MARSHAL_FIELDS: the specification versions a quick spec (Marshal) can carry.
SPECIFICATION_VERSIONS = (-1, 1, 2, 3, 4)


class InvalidGem(ValueError):
    """The upload is not a gem this registry can serve; the message says what to fix."""


# ---- names, versions, platforms --------------------------------------------------------------------


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or not re.search(r"[A-Za-z]", name):
        raise InvalidGem(f"invalid gem name {name!r}: use letters, digits, '.', '-' and '_', starting with a "
                         f"letter or digit, with at least one letter")
    return name


def validate_version(version: object) -> str:
    """A Gem::Version string as RubyGems normalizes it ('1.0-beta' is '1.0.pre.beta')."""
    text = str(version).strip().replace("-", ".pre.") if isinstance(version, str | int) else None
    if not text or not VERSION_PATTERN.fullmatch(text) or len(text) > 128:
        raise InvalidGem(f"invalid gem version {version!r}: use numbers and letters separated by dots, "
                         f"like 1.2.3 or 2.0.0.rc1")
    return text


def validate_platform(platform: object) -> str:
    if platform is None or platform == "":
        return RUBY_PLATFORM
    if not isinstance(platform, str) or not PLATFORM_PATTERN.fullmatch(platform):
        raise InvalidGem(f"invalid gem platform {platform!r}: use a platform like x86_64-linux or java")
    return platform


def is_prerelease(version: str) -> bool:
    """Gem::Version#prerelease?: any letter makes it one."""
    return bool(re.search(r"[A-Za-z]", version))


def _canonical_segments(version: str) -> list[int | str]:
    segments: list[int | str] = [int(s) if s.isdigit() else s for s in re.findall(r"[0-9]+|[A-Za-z]+", version)]
    first_string = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    canonical: list[int | str] = []
    for part in (segments[:first_string], segments[first_string:]):
        while part and part[-1] == 0:
            part = part[:-1]
        canonical += part
    return canonical


def compare_versions(left: str, right: str) -> int:
    """Gem::Version#<=>: numbers compare as numbers, letters sort before numbers, trailing zeros don't count."""
    lhs, rhs = _canonical_segments(left), _canonical_segments(right)
    for i in range(max(len(lhs), len(rhs))):
        a = lhs[i] if i < len(lhs) else 0
        b = rhs[i] if i < len(rhs) else 0
        if a == b:
            continue
        if isinstance(a, str) and isinstance(b, int):
            return -1
        if isinstance(a, int) and isinstance(b, str):
            return 1
        return -1 if a < b else 1  # type: ignore[operator]
    return 0


version_key = functools.cmp_to_key(compare_versions)


def full_version(version: str, platform: str) -> str:
    """The version as the compact index and file names spell it: '1.0.0', or '1.0.0-x86_64-linux'."""
    return version if platform == RUBY_PLATFORM else f"{version}-{platform}"


# ---- the spec --------------------------------------------------------------------------------------


@dataclass
class Dependency:
    name: str
    requirements: list[tuple[str, str]]  # (operator, version)
    type: str = "runtime"

    @property
    def requirement_text(self) -> str:
        return ", ".join(f"{op} {version}" for op, version in self.requirements)


@dataclass
class GemSpec:
    """What the registry keeps of a Gem::Specification: everything its indexes and answers need."""

    name: str
    version: str
    platform: str = RUBY_PLATFORM
    summary: str = ""
    description: str = ""
    authors: list[str] = field(default_factory=list)
    email: list[str] = field(default_factory=list)
    homepage: str = ""
    licenses: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    dependencies: list[Dependency] = field(default_factory=list)
    required_ruby_version: list[tuple[str, str]] = field(default_factory=lambda: [(">=", "0")])
    required_rubygems_version: list[tuple[str, str]] = field(default_factory=lambda: [(">=", "0")])
    rubygems_version: str = ""
    specification_version: int = 4
    date: str = ""  # YYYY-MM-DD

    @property
    def full_version(self) -> str:
        return full_version(self.version, self.platform)

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.full_version}.gem"

    @property
    def prerelease(self) -> bool:
        return is_prerelease(self.version)

    @property
    def runtime_dependencies(self) -> list[Dependency]:
        return [d for d in self.dependencies if d.type == "runtime"]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict) -> GemSpec:
        values = dict(document)
        values["dependencies"] = [Dependency(d["name"], [tuple(r) for r in d["requirements"]], d["type"])
                                  for d in document.get("dependencies", [])]
        for key in ("required_ruby_version", "required_rubygems_version"):
            values[key] = [tuple(r) for r in document.get(key, [(">=", "0")])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


# ---- YAML with Ruby tags ---------------------------------------------------------------------------


@dataclass
class _RubyObject:
    class_name: str
    fields: dict


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _SafeLoader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """SafeLoader with libyaml's scanner and parser (Python's take tens of seconds over a 4 MiB
        document) and Python's composer, which the node bounds below hook into."""

        def __init__(self, stream):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    _SafeLoader = yaml.SafeLoader


class _BoundedLoader(_SafeLoader):
    """SafeLoader that refuses a document whose aliases, once expanded, would make more than
    MAX_YAML_NODES nodes: a few aliases nested can make billions, and anything that walks the data
    (a message quoting a value, str()) expands them. Counted while composing, before anything is built."""

    document = "the YAML"

    def __init__(self, stream):
        super().__init__(stream)
        self.aliases = 0
        self.nodes = 0
        self.expanded: dict[int, int] = {}  # id(node) -> how many nodes it makes with its aliases expanded

    def compose_node(self, parent, index):
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise InvalidGem(f"{self.document} has too many YAML nodes")
        alias = self.check_event(yaml.AliasEvent)
        if alias:
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise InvalidGem(f"{self.document} uses too many YAML aliases")
        node = super().compose_node(parent, index)
        if not alias:
            children = node.value if isinstance(node, yaml.SequenceNode) else (
                [child for pair in node.value for child in pair] if isinstance(node, yaml.MappingNode) else [])
            # an alias of a node still being composed (a recursive one) is not an expansion
            size = 1 + sum(self.expanded.get(id(child), 1) for child in children)
            if size > MAX_YAML_NODES:
                raise InvalidGem(f"{self.document} expands to more than {MAX_YAML_NODES} YAML nodes")
            self.expanded[id(node)] = size
        return node


class _GemspecLoader(_BoundedLoader):
    """The bounded SafeLoader plus the Ruby tags of a gemspec."""

    document = "metadata.gz"


class _ChecksumsLoader(_BoundedLoader):
    document = "checksums.yaml.gz"


def _ruby_object(class_name: str):
    def construct(loader: _GemspecLoader, node: yaml.Node) -> _RubyObject:
        if not isinstance(node, yaml.MappingNode):
            raise InvalidGem(f"metadata.gz: !ruby/object:{class_name} must be a mapping")
        return _RubyObject(class_name, loader.construct_mapping(node, deep=True))
    return construct


for _class in ("Gem::Specification", "Gem::Version", "Gem::Requirement", "Gem::Dependency", "Gem::Platform"):
    _GemspecLoader.add_constructor(f"!ruby/object:{_class}", _ruby_object(_class))
# Psych writes strings that are not valid UTF-8 as '!binary' (base64).
_GemspecLoader.add_constructor("!binary", lambda loader, node: yaml.constructor.SafeConstructor.construct_yaml_binary(loader, node))


def _load_yaml(text: bytes, loader: type[_BoundedLoader]) -> object:
    try:
        return yaml.load(text, Loader=loader)  # a bounded SafeLoader, with data-only Ruby tags at most
    except yaml.constructor.ConstructorError as e:
        raise InvalidGem(f"{loader.document} holds something a gemspec cannot: {_one_line(e.problem)}") from None
    except yaml.YAMLError as e:
        if "maximum nesting depth" in str(e):  # libyaml's own bound
            raise InvalidGem(f"{loader.document} nests too deeply") from None
        raise InvalidGem(f"{loader.document} is not valid YAML: {_one_line(e)}") from None
    except RecursionError:
        raise InvalidGem(f"{loader.document} nests too deeply") from None
    except InvalidGem:
        raise
    except (ValueError, OverflowError) as e:
        # the resolver's own types refusing their text: a date like 2024-13-45, an integer of more
        # digits than Python converts
        raise InvalidGem(f"{loader.document} holds a value that cannot be read: {_one_line(e)}") from None


def _one_line(error: object) -> str:
    """gem prints the body as it is: a refusal is one line."""
    return " ".join(str(error).split())[:300]


def load_gemspec_yaml(text: bytes) -> object:
    """The YAML document of metadata.gz as plain data and _RubyObjects; InvalidGem for anything else."""
    return _load_yaml(text, _GemspecLoader)


def _text(value: object, what: str, *, limit: int = 65536) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise InvalidGem(f"the gemspec's {what} is not UTF-8") from None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidGem(f"the gemspec's {what} must be text")
    text = str(value)
    if len(text) > limit:
        raise InvalidGem(f"the gemspec's {what} is longer than {limit} characters")
    return text


def _texts(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        if len(value) > 100:
            raise InvalidGem(f"the gemspec lists too many {what}")
        return [_text(item, what, limit=1024) for item in value]
    return [_text(value, what, limit=1024)]


def _version_of(value: object, what: str) -> str:
    if isinstance(value, _RubyObject) and value.class_name == "Gem::Version":
        value = value.fields.get("version")
    elif isinstance(value, _RubyObject):
        raise InvalidGem(f"the gemspec's {what} must be a Gem::Version")
    return validate_version(value)


def _requirement_of(value: object, what: str) -> list[tuple[str, str]]:
    if value is None:
        return [(">=", "0")]
    if not (isinstance(value, _RubyObject) and value.class_name == "Gem::Requirement"):
        raise InvalidGem(f"the gemspec's {what} must be a Gem::Requirement")
    pairs = value.fields.get("requirements")
    if not isinstance(pairs, list) or not pairs or len(pairs) > 20:
        raise InvalidGem(f"the gemspec's {what} has no requirements")
    requirements = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] in OPERATORS):
            raise InvalidGem(f"the gemspec's {what} has a requirement that is not [operator, version]")
        requirements.append((pair[0], _version_of(pair[1], what)))
    return requirements


def _platform_of(value: object) -> str:
    if isinstance(value, _RubyObject):
        if value.class_name != "Gem::Platform":
            raise InvalidGem("the gemspec's platform must be a Gem::Platform")
        parts = [value.fields.get(k) for k in ("cpu", "os", "version")]
        value = "-".join(_text(p, "platform") for p in parts if p is not None)
    return validate_platform(value)


def _dependency_of(value: object) -> Dependency:
    if not (isinstance(value, _RubyObject) and value.class_name == "Gem::Dependency"):
        raise InvalidGem("the gemspec's dependencies must be Gem::Dependency objects")
    fields_ = value.fields
    name = validate_name(fields_.get("name"))
    kind = str(fields_.get("type") or ":runtime").lstrip(":")
    if kind not in DEPENDENCY_TYPES:
        raise InvalidGem(f"the dependency on {name} has an unknown type {kind!r}")
    requirement = fields_.get("requirement", fields_.get("version_requirements"))
    return Dependency(name, _requirement_of(requirement, f"requirement on {name}"), kind)


def _date_of(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    text = _text(value, "date", limit=64)
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    return match.group(0) if match else ""


def spec_from_yaml(document: object) -> GemSpec:
    """The GemSpec of a loaded metadata.gz document."""
    if not (isinstance(document, _RubyObject) and document.class_name == "Gem::Specification"):
        raise InvalidGem("metadata.gz is not a Gem::Specification: build the gem with `gem build`")
    f = document.fields
    metadata = f.get("metadata") or {}
    if not isinstance(metadata, dict) or len(metadata) > 100:
        raise InvalidGem("the gemspec's metadata must be a mapping of text to text")
    dependencies = f.get("dependencies") or []
    if not isinstance(dependencies, list) or len(dependencies) > 500:
        raise InvalidGem("the gemspec's dependencies must be a list")
    specification_version = f.get("specification_version", 4)
    if isinstance(specification_version, bool) or not isinstance(specification_version, int):
        raise InvalidGem("the gemspec's specification_version must be a number")
    # Gem::Specification._load reads newer ones as the current one, and knows no other older ones.
    specification_version = min(specification_version, SPECIFICATION_VERSIONS[-1])
    if specification_version not in SPECIFICATION_VERSIONS:
        raise InvalidGem(f"the gemspec's specification_version must be one of {SPECIFICATION_VERSIONS} or newer")
    return GemSpec(
        name=validate_name(f.get("name")),
        version=_version_of(f.get("version"), "version"),
        platform=_platform_of(f.get("platform")),
        summary=_text(f.get("summary"), "summary"),
        description=_text(f.get("description"), "description"),
        authors=_texts(f.get("authors"), "authors"),
        email=_texts(f.get("email"), "email"),
        homepage=_text(f.get("homepage"), "homepage", limit=2048),
        licenses=_texts(f.get("licenses"), "licenses"),
        metadata={_text(k, "metadata key", limit=128): _text(v, f"metadata {k}", limit=2048)
                  for k, v in metadata.items()},
        dependencies=[_dependency_of(d) for d in dependencies],
        required_ruby_version=_requirement_of(f.get("required_ruby_version"), "required_ruby_version"),
        required_rubygems_version=_requirement_of(f.get("required_rubygems_version"),
                                                  "required_rubygems_version"),
        rubygems_version=_text(f.get("rubygems_version"), "rubygems_version", limit=64),
        specification_version=specification_version,
        date=_date_of(f.get("date")),
    )


# ---- the archive -----------------------------------------------------------------------------------


def _gunzip(data: bytes, limit: int, what: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
            text = unpacked.read(limit + 1)
    except (OSError, EOFError, zlib.error):
        raise InvalidGem(f"{what} is not valid gzip: the gem is corrupt, build it again with `gem build`") from None
    if len(text) > limit:
        raise InvalidGem(f"{what} unpacks to more than {limit} bytes")
    return text


class _HashingReader:
    """Reads through a file object, hashing what passes."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.hashes = {name: hashlib.new(name) for name in ("sha1", "sha256", "sha512")}

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        for h in self.hashes.values():
            h.update(data)
        return data


class _BoundedReader:
    """Reads through a file object, refusing to pass more than `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int, what: str):
        self.stream, self.limit, self.what, self.passed = stream, limit, what, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.passed += len(data)
        if self.passed > self.limit:
            raise InvalidGem(f"{self.what} unpacks to more than {self.limit} bytes")
        return data


def _check_data(stream: BinaryIO) -> dict[str, str]:
    """Read data.tar.gz to its end (gzip CRC and tar structure checked, size bounded); its digests."""
    reader = _HashingReader(stream)
    try:
        with gzip.GzipFile(fileobj=reader) as gz:
            unpacked = _BoundedReader(gz, MAX_DATA_UNPACKED, "data.tar.gz")
            with tarfile.open(fileobj=unpacked, mode="r|") as tar:
                for count, member in enumerate(tar):
                    tar.members = []  # a stream's TarFile keeps every header it read: let them go
                    if count >= MAX_DATA_MEMBERS:
                        raise InvalidGem(f"data.tar.gz holds more than {MAX_DATA_MEMBERS} files")
                    if member.isfile():
                        source = tar.extractfile(member)
                        while source.read(1024 * 1024):
                            pass
            while unpacked.read(1024 * 1024):  # past the tar's end blocks, so gzip checks its CRC
                pass
    except (OSError, EOFError, zlib.error, tarfile.TarError):
        raise InvalidGem("data.tar.gz is not a valid gzipped tar: the gem is corrupt, build it again with "
                         "`gem build`") from None
    return {name: h.hexdigest() for name, h in reader.hashes.items()}


def _check_checksums(text: bytes, digests: dict[str, dict[str, str]]) -> None:
    document = _load_yaml(text, _ChecksumsLoader)
    if not isinstance(document, dict):
        raise InvalidGem("checksums.yaml.gz is not a mapping of algorithms to digests")
    for algorithm, files in document.items():
        name = CHECKSUM_ALGORITHMS.get(str(algorithm))
        if name is None or not isinstance(files, dict):
            continue
        for member, expected in files.items():
            actual = digests.get(str(member), {}).get(name)
            if actual is not None and str(expected).lower() != actual:
                raise InvalidGem(f"{member} does not match its {algorithm} in checksums.yaml.gz: the gem is "
                                 f"corrupt, build it again with `gem build`")


def parse_gem(stream: BinaryIO) -> GemSpec:
    """The spec of a .gem read from a seekable file; every member is checked, nothing is extracted."""
    metadata_gz = checksums_gz = None
    digests: dict[str, dict[str, str]] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r:") as archive:
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    raise InvalidGem(f"a gem holds metadata.gz, data.tar.gz, checksums.yaml.gz and their "
                                     f"signatures, not {MAX_MEMBERS} files or more")
                if member.name not in KNOWN_MEMBERS:
                    if member.name.endswith(".sig") and member.isfile():
                        continue
                    raise InvalidGem(f"a gem holds metadata.gz, data.tar.gz and checksums.yaml.gz, not "
                                     f"{member.name!r}")
                if not member.isfile():
                    raise InvalidGem(f"{member.name} in the gem is not a regular file")
                if member.name in digests:
                    raise InvalidGem(f"the gem holds {member.name} twice")
                source = archive.extractfile(member)
                if member.name == "data.tar.gz":
                    digests[member.name] = _check_data(source)
                    continue
                limit = MAX_METADATA_GZ if member.name == "metadata.gz" else MAX_CHECKSUMS_GZ
                if member.size > limit:
                    raise InvalidGem(f"{member.name} is larger than {limit} bytes")
                data = source.read()
                digests[member.name] = {name: hashlib.new(name, data).hexdigest()
                                        for name in ("sha1", "sha256", "sha512")}
                if member.name == "metadata.gz":
                    metadata_gz = data
                else:
                    checksums_gz = data
    except tarfile.TarError:
        raise InvalidGem("not a gem: a .gem is a tar archive made by `gem build`") from None
    if metadata_gz is None or "data.tar.gz" not in digests:
        raise InvalidGem("not a gem: it lacks metadata.gz or data.tar.gz (build it with `gem build`)")
    if checksums_gz is not None:
        _check_checksums(_gunzip(checksums_gz, MAX_CHECKSUMS_GZ, "checksums.yaml.gz"), digests)
    return spec_from_yaml(load_gemspec_yaml(_gunzip(metadata_gz, MAX_METADATA_YAML, "metadata.gz")))
