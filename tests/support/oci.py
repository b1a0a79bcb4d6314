"""Building OCI images, indexes and artifacts in tests: blobs, manifests, and OCI layout directories
that skopeo and oras read."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def random_layer(size: int) -> bytes:
    """A gzip layer of `size` random bytes: clients copy compressed layers as they are, while they
    would compress an uncompressed one on the way (and change the manifest's digest)."""
    return gzip.compress(os.urandom(size), compresslevel=1)


def descriptor(media_type: str, data: bytes, algorithm: str = "sha256", **extra) -> dict:
    return {"mediaType": media_type, "digest": digest_of(data, algorithm), "size": len(data), **extra}


@dataclass
class Image:
    """A manifest with its config and layers, as bytes."""

    manifest: bytes
    blobs: list[bytes] = field(default_factory=list)  # config first, then the layers
    media_type: str = OCI_MANIFEST

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def digest_by(self, algorithm: str) -> str:
        return digest_of(self.manifest, algorithm)


def build_image(layers: list[bytes], *, architecture: str = "amd64", docker: bool = False,
                artifact_type: str | None = None, subject: Image | None = None,
                annotations: dict | None = None, algorithm: str = "sha256") -> Image:
    """An image whose config and layers are referenced by `algorithm` digests (sha256 or sha512)."""
    config = json.dumps({"architecture": architecture, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(x) for x in layers]}}).encode()
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    document = {"schemaVersion": 2, "mediaType": media_type,
                "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config, algorithm),
                "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, x, algorithm) for x in layers]}
    if artifact_type:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = {"mediaType": subject.media_type, "digest": subject.digest,
                               "size": len(subject.manifest)}
    if annotations:
        document["annotations"] = annotations
    return Image(json.dumps(document, indent=2).encode(), [config, *layers], media_type)


def build_index(images: list[Image]) -> Image:
    manifests = []
    for image in images:
        architecture = json.loads(image.blobs[0])["architecture"]
        manifests.append(descriptor(image.media_type, image.manifest,
                                    platform={"architecture": architecture, "os": "linux"}))
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return Image(json.dumps(document, indent=2).encode(), [], OCI_INDEX)


def write_oci_layout(directory: Path, tag: str, top: Image, children: list[Image] = ()) -> None:
    """An OCI image layout holding `top` (an image, or an index of `children`) under `tag`."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    for image in [top, *children]:
        for data in [image.manifest, *image.blobs]:
            (blobs / digest_of(data).split(":")[1]).write_bytes(data)
    index = {"schemaVersion": 2, "manifests": [
        descriptor(top.media_type, top.manifest, annotations={"org.opencontainers.image.ref.name": tag})]}
    (directory / "index.json").write_text(json.dumps(index))


def tar_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip'd tar layer holding `files`, and its diff_id (the digest of the tar before compression),
    as the Docker daemon checks when it loads or pulls an image."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0), digest_of(raw)


def build_runnable_image(layers: list[dict[str, bytes]], *, architecture: str = "amd64",
                         labels: dict[str, str] | None = None) -> Image:
    """An image a Docker daemon loads and pulls: real tar layers with their diff_ids, a config it reads
    (with `labels`, as a Dockerfile's LABEL puts them)."""
    built = [tar_layer(files) for files in layers]
    config = {"architecture": architecture, "os": "linux", "created": "2026-01-01T00:00:00Z",
              "config": {"Cmd": ["/hello"], "Labels": labels or {}},
              "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in built]},
              "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(built))]}
    config_bytes = json.dumps(config).encode()
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config_bytes),
                "layers": [descriptor(OCI_LAYER, data) for data, _ in built]}
    return Image(json.dumps(document, indent=2).encode(), [config_bytes, *(data for data, _ in built)], OCI_MANIFEST)
