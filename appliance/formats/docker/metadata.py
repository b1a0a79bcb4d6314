"""The OCI Distribution / Docker Registry v2 protocol as data: image names, tags, digests, references,
the routes under /v2/, Content-Range of chunked uploads, and image manifests and indexes.

Pure parsing: bytes and strings in, dataclasses out, named errors carrying the spec's error code. No
HTTP, no database.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
MANIFEST_TYPES = IMAGE_MANIFESTS + INDEXES
# Layers that may not be pushed to a registry (Windows base layers, licensed content): a manifest names
# where they are fetched from (`urls`), and the registry holds the manifest without them.
NON_DISTRIBUTABLE_LAYERS = ("application/vnd.oci.image.layer.nondistributable.v1.tar",
                            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                            "application/vnd.docker.image.rootfs.foreign.diff.tar",
                            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

# Path components as the distribution spec defines them; names are lowercase.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
NAME_MAX = 255
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]+$")
# The image spec's registered algorithms this registry keeps (the blob store knows content by both), with
# the length of their lowercase hex; sha256 is the canonical one, what a manifest pushed by tag is named by.
DIGEST_ALGORITHMS = {"sha256": 64, "sha512": 128}
CANONICAL_ALGORITHM = "sha256"
UUID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class DistributionError(Exception):
    """A request the spec answers with `code`; str(error) is the message for the person at the client."""

    code = "UNSUPPORTED"

    def __init__(self, message: str, detail=None):
        super().__init__(message)
        self.detail = detail


class NameInvalid(DistributionError):
    code = "NAME_INVALID"


class TagInvalid(DistributionError):
    code = "TAG_INVALID"


class DigestInvalid(DistributionError):
    code = "DIGEST_INVALID"


class ManifestInvalid(DistributionError):
    code = "MANIFEST_INVALID"


class RangeInvalid(DistributionError):
    code = "BLOB_UPLOAD_INVALID"


class Unsupported(DistributionError):
    code = "UNSUPPORTED"


class AlgorithmUnsupported(Unsupported):
    """A `digest-algorithm` this registry does not hash with: the request is fine, the algorithm is not
    supported (400, where other UNSUPPORTED answers are a method not allowed)."""


# ---- names, tags, digests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageName:
    """`OWNER/REPOSITORY/IMAGE`: the package IMAGE of OWNER, linked to the repository OWNER/REPOSITORY.
    IMAGE may have further '/'-separated components."""

    owner: str
    repository: str
    image: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.repository}/{self.image}"


def parse_image_name(name: str) -> ImageName:
    if len(name) > NAME_MAX:
        raise NameInvalid(f"image names are at most {NAME_MAX} characters", detail={"name": name[:NAME_MAX]})
    if not NAME_RE.match(name):
        raise NameInvalid(
            f"invalid image name {name!r}: use lowercase letters, digits and separators (. _ __ -) "
            f"in components separated by '/'", detail={"name": name})
    parts = name.split("/")
    if len(parts) < 3:
        raise NameInvalid(
            f"invalid image name {name!r}: images here are named OWNER/REPOSITORY/IMAGE, after the "
            f"repository that holds them", detail={"name": name})
    return ImageName(parts[0], parts[1], "/".join(parts[2:]))


def parse_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise TagInvalid(
            f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            detail={"tag": tag[:200]})
    return tag


def parse_digest(text: str) -> str:
    """A digest of a registered algorithm this registry keeps: `sha256:HEX` or `sha512:HEX`. A digest
    of another algorithm is well formed but cannot be checked here: DIGEST_INVALID saying so."""
    algorithm, _, encoded = text.partition(":")
    length = DIGEST_ALGORITHMS.get(algorithm)
    if length is not None and len(encoded) == length and _is_lower_hex(encoded):
        return text
    supported = " or ".join(f"{name}:<{size} lowercase hex digits>" for name, size in DIGEST_ALGORITHMS.items())
    if DIGEST_RE.match(text) and length is None:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r} in {text[:200]!r}: this registry takes "
                            f"{supported}", detail={"digest": text[:200], "algorithms": list(DIGEST_ALGORITHMS)})
    raise DigestInvalid(f"invalid digest {text[:200]!r}: expected {supported}", detail={"digest": text[:200]})


def _is_lower_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def parse_digest_algorithm(name: str) -> str:
    """The `digest-algorithm` a client names when it starts an upload (the distribution spec's hint of
    the digest the upload will be finished with)."""
    if name not in DIGEST_ALGORITHMS:
        raise AlgorithmUnsupported(f"unsupported digest-algorithm {name[:50]!r}: this registry hashes with "
                                   f"{' or '.join(DIGEST_ALGORITHMS)}", detail={"algorithms": list(DIGEST_ALGORITHMS)})
    return name


def digest_algorithm(digest: str) -> str:
    return digest.partition(":")[0]


def digest_hex(digest: str) -> str:
    return digest.partition(":")[2]


def sha256_digest(data: bytes) -> str:
    return digest_of(data, CANONICAL_ALGORITHM)


def digest_of(data: bytes, algorithm: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@dataclass(frozen=True)
class Reference:
    """What follows /manifests/: a tag, or a digest."""

    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return self.tag or self.digest or ""


def parse_reference(text: str) -> Reference:
    if ":" in text:
        return Reference(digest=parse_digest(text))
    return Reference(tag=parse_tag(text))


# ---- routes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """What a path under /v2/ asks for: `kind` is one of manifest, uploads, upload, blob, tags,
    referrers, catalog; `name` the image name as sent; `argument` the reference, digest or upload id."""

    kind: str
    name: str = ""
    argument: str = ""


# Matched from the end of the path, as image names may contain any of these words; uploads first,
# as `blobs/uploads/` would also match a blob digest.
_ROUTES = (
    ("uploads", re.compile(r"^(?P<name>.+)/blobs/uploads/?$")),
    ("upload", re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<argument>[^/]+)$")),
    ("blob", re.compile(r"^(?P<name>.+)/blobs/(?P<argument>[^/]+)$")),
    ("manifest", re.compile(r"^(?P<name>.+)/manifests/(?P<argument>[^/]+)$")),
    ("tags", re.compile(r"^(?P<name>.+)/tags/list$")),
    ("referrers", re.compile(r"^(?P<name>.+)/referrers/(?P<argument>[^/]+)$")),
)


def parse_route(path: str) -> Route | None:
    """The route of `path` (what follows /v2/), or None when it is none of the spec's endpoints."""
    if path in ("_catalog", "_catalog/"):
        return Route("catalog")
    for kind, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return Route(kind, match["name"], match.groupdict().get("argument") or "")
    return None


# ---- chunked uploads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def parse_content_range(header: str) -> ContentRange:
    """A chunk's Content-Range: `START-END` as the spec writes it (inclusive), or the HTTP forms
    `bytes START-END/TOTAL` and `bytes=START-END` that some clients send."""
    match = _RANGE_RE.match(header.strip())
    if not match:
        raise RangeInvalid(f"invalid Content-Range {header!r}: expected START-END, e.g. 0-1023")
    start, end = int(match[1]), int(match[2])
    if end < start:
        raise RangeInvalid(f"invalid Content-Range {header!r}: the end is before the start")
    return ContentRange(start, end)


def upload_range_header(size: int) -> str:
    """The Range header of an upload's status: the bytes received so far (`0-0` for none)."""
    return f"0-{max(size - 1, 0)}"


# ---- manifests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict = field(default_factory=dict)
    platform: dict | None = None
    urls: tuple[str, ...] = ()

    @property
    def hosted_elsewhere(self) -> bool:
        """A layer the registry need not hold: non-distributable, or named by the URLs to fetch it from."""
        return self.media_type in NON_DISTRIBUTABLE_LAYERS or bool(self.urls)


@dataclass(frozen=True)
class Manifest:
    """An image manifest (config + layers) or an index (child manifests), with what OCI 1.1 adds."""

    media_type: str
    digest: str
    size: int
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """The blobs the manifest needs in the repository: its config and the layers it does not say
        are hosted elsewhere."""
        return ((self.config,) if self.config else ()) + tuple(d for d in self.layers if not d.hosted_elsewhere)

    @property
    def foreign_layers(self) -> tuple[Descriptor, ...]:
        """Layers hosted elsewhere: kept with the manifest when they were pushed all the same."""
        return tuple(d for d in self.layers if d.hosted_elsewhere)

    @property
    def effective_artifact_type(self) -> str | None:
        """What the referrers API lists: `artifactType`, else the config's media type."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None

    def referrer_descriptor(self) -> dict:
        descriptor = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.effective_artifact_type:
            descriptor["artifactType"] = self.effective_artifact_type
        if self.annotations:
            descriptor["annotations"] = self.annotations
        return descriptor


def _descriptor(value, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} is not a descriptor object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where} has no mediaType")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where} has no digest")
    try:
        digest = parse_digest(digest)
    except DigestInvalid as e:
        raise ManifestInvalid(f"{where}: {e}", detail=e.detail) from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where} has no valid size")
    artifact_type = value.get("artifactType")
    annotations = value.get("annotations") or {}
    platform = value.get("platform")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid(f"{where}: artifactType is not a string")
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise ManifestInvalid(f"{where}: annotations are not a map of strings")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}: platform is not an object")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}: urls is not a list of strings")
    return Descriptor(media_type, digest, size, artifact_type, annotations, platform, tuple(urls))


def _descriptors(document: dict, key: str) -> tuple[Descriptor, ...]:
    values = document.get(key)
    if values is None:
        return ()
    if not isinstance(values, list):
        raise ManifestInvalid(f"{key} is not a list")
    return tuple(_descriptor(v, f"{key}[{i}]") for i, v in enumerate(values))


def parse_manifest(body: bytes, content_type: str | None, algorithm: str = CANONICAL_ALGORITHM) -> Manifest:
    """Parse a pushed manifest. Its media type is the `mediaType` field or the Content-Type it came
    with; when both are there they must agree. Its digest is of `algorithm`: the one of the digest it
    was pushed by, else the canonical sha256."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ManifestInvalid(f"the manifest is not JSON: {e}") from None
    except RecursionError:
        raise ManifestInvalid("the manifest is nested too deeply") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("the manifest is not a JSON object")
    declared = document.get("mediaType")
    sent = (content_type or "").split(";")[0].strip().lower()
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType is not a string")
    if sent in DOCKER_SCHEMA1 or declared in DOCKER_SCHEMA1:
        raise ManifestInvalid("Docker schema 1 manifests are not supported: push schema 2 or OCI images")
    if declared and sent and sent in MANIFEST_TYPES and declared != sent:
        raise ManifestInvalid(f"the manifest says mediaType {declared} but was sent as {sent}")
    media_type = declared or (sent if sent in MANIFEST_TYPES else None)
    if media_type is None:
        # An OCI manifest may leave mediaType out; its shape says which it is.
        media_type = OCI_INDEX if "manifests" in document else OCI_MANIFEST if "config" in document else None
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type or sent or '(none)'}: expected one "
                              f"of {', '.join(MANIFEST_TYPES)}")
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    annotations = document.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise ManifestInvalid("annotations are not a map of strings")
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType is not a string")
    subject = _descriptor(document["subject"], "subject") if document.get("subject") is not None else None
    common = {"media_type": media_type, "digest": digest_of(body, algorithm), "size": len(body), "subject": subject,
                  "artifact_type": artifact_type, "annotations": annotations}
    if media_type in INDEXES:
        if "manifests" not in document:
            raise ManifestInvalid("an index needs a manifests list")
        manifests = _descriptors(document, "manifests")
        for i, child in enumerate(manifests):
            if child.media_type not in MANIFEST_TYPES:
                raise ManifestInvalid(f"manifests[{i}] has media type {child.media_type}, not a manifest's")
        return Manifest(manifests=manifests, **common)
    if "config" not in document:
        raise ManifestInvalid("an image manifest needs a config descriptor")
    config = _descriptor(document["config"], "config")
    if "layers" not in document or not isinstance(document["layers"], list):
        raise ManifestInvalid("an image manifest needs a layers list")
    return Manifest(config=config, layers=_descriptors(document, "layers"), **common)


def manifest_summary(manifest: Manifest) -> dict:
    """What a version records about its manifest: enough to answer HEAD, referrers and listings
    without reading the manifest again."""
    summary = {"mediaType": manifest.media_type, "size": manifest.size}
    if manifest.effective_artifact_type:
        summary["artifactType"] = manifest.effective_artifact_type
    if manifest.annotations:
        summary["annotations"] = manifest.annotations
    if manifest.subject:
        summary["subject"] = manifest.subject.digest
    if manifest.is_index:
        summary["manifests"] = [m.digest for m in manifest.manifests]
        platforms = [m.platform for m in manifest.manifests if m.platform]
        if platforms:
            summary["platforms"] = platforms
    return summary


def referrer_from_summary(digest: str, summary: dict) -> dict:
    """The referrers API's descriptor of a manifest, from what its version recorded."""
    descriptor = {"mediaType": summary["mediaType"], "digest": digest, "size": summary["size"]}
    for key in ("artifactType", "annotations"):
        if summary.get(key):
            descriptor[key] = summary[key]
    return descriptor


# The referrers tag schema (clients without the referrers API): the digest's algorithm, '-', and the first
# 64 characters of its hex; for the algorithms kept here nothing needs replacing.
REFERRERS_TAG_RE = re.compile(r"^(sha256|sha512)-([a-f0-9]{64})$")


def referrers_tag_prefix(tag: str) -> str | None:
    """What the subjects a referrers tag stands for start with (the whole digest for sha256), or None
    for a tag that is not of the schema."""
    match = REFERRERS_TAG_RE.match(tag)
    return f"{match[1]}:{match[2]}" if match else None


def referrers_index(descriptors: list[dict]) -> dict:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
