"""Every parser of what clients upload, fed mutated and random input (see harness.py for the checks).
What a parser accepts is also put through what the registry then does with it (stored as JSON, built
into the documents and indexes it serves), so an acceptance that would fail later fails here."""
from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from appliance.formats.docker import bearer
from appliance.formats.docker import metadata as docker
from appliance.formats.maven import metadata as maven
from appliance.formats.npm import metadata as npm
from appliance.formats.nuget import metadata as nuget
from appliance.formats.rubygems import index as gem_index
from appliance.formats.rubygems import metadata as rubygems
from tests.fuzz.harness import fuzz_settings, inputs, json_values, survives
from tests.support.nuget import nupkg_bytes, nuspec_xml
from tests.support.oci import build_image, build_index
from tests.support.rubygems import gem_members, gemspec_yaml, tar_of
from tests.unit.formats.npm.test_metadata import publish_document

COMMON_TOKENS = [b"\x00", b"\xff", b"\xe9", "\ud800".encode("utf-8", "surrogatepass"), b"9" * 5000, b"-1",
                 b"\n", b" ", b"\\", b'"', b"'"]


def _stored(document) -> str:
    """What the service does with metadata: JSON text, in UTF-8, in a database column."""
    return json.dumps(document).encode("utf-8").decode()


# ---- npm -------------------------------------------------------------------------------------------

NPM_NAME = "@octo-org/hello-world"
NPM_BODY = json.dumps(publish_document(b"tarball bytes", name=NPM_NAME)).encode()
NPM_TOKENS = COMMON_TOKENS + [b"[", b"{", b"}", b"]", b",", b":", b'"_attachments"', b'"data":', b"\\u0000",
                              b"\\ud800", b'"dist-tags":{"x":', b"1e999999", b"null"]


def _npm_publish(body: bytes):
    sinks: dict[str, io.BytesIO] = {}
    document = npm.split_publish_body(io.BytesIO(body), lambda name: sinks.setdefault(name, io.BytesIO()))
    request = npm.parse_publish_document(document, NPM_NAME)
    record = npm.VersionRecord(request.version, request.manifest, "http://x/t.tgz", "0" * 40, "sha512-x",
                               npm.datetime(2024, 1, 1), None)
    for abbreviated in (False, True):
        _stored(npm.build_packument(NPM_NAME, [record], request.dist_tags, record.created, record.created,
                                    abbreviated=abbreviated, readme=request.readme))
    _stored(request.manifest)
    return request


@fuzz_settings
@given(inputs(NPM_BODY, NPM_TOKENS))
def test_npm_publish_bodies(body):
    survives(lambda: _npm_publish(body), (npm.InvalidPackage,))


@fuzz_settings
@given(st.sampled_from(["name", "version", "dist-tags", "versions", "_attachments", "readme", "description"]),
       st.sampled_from(["", "manifest"]), json_values)
def test_npm_publish_documents_with_any_values(key, where, value):
    document = publish_document(b"tarball", name=NPM_NAME)
    target = document["versions"]["1.0.0"] if where else document
    target[key] = value
    survives(lambda: _npm_publish(json.dumps(document).encode()), (npm.InvalidPackage,))


@fuzz_settings
@given(st.text(max_size=300))
def test_npm_names_versions_tags_and_integrity(text):
    for parse in (npm.parse_package_name, npm.validate_version, npm.validate_dist_tag, npm.parse_integrity):
        survives(lambda parse=parse: parse(text), (npm.InvalidPackage,))


# ---- RubyGems --------------------------------------------------------------------------------------

GEMSPEC = gemspec_yaml("demo", "1.0", metadata={"github_repo": "alice/demo"},
                       dependencies=[("rake", [(">=", "1.0")])]).encode()
YAML_TOKENS = COMMON_TOKENS + [b"&a ", b"*a", b"!ruby/object:Gem::Version", b"!ruby/object:Kernel", b"!binary ",
                               b"!!python/object:os.system", b"2024-13-45", b"[", b"{", b"- ", b": ", b"<<: *a",
                               b"\n  " * 50, b"? ", b"%YAML 1.1\n", b"---\n", b"~", b".inf"]


def _gem(data: bytes):
    spec = rubygems.parse_gem(io.BytesIO(data))
    stored = rubygems.GemSpec.from_json(json.loads(_stored(spec.to_json())))
    gem = gem_index.IndexedGem(stored, "0" * 64)
    gem_index.info_file([gem])
    gem_index.quick_spec(stored)
    gem_index.specs_index([stored])
    gem_index.dependencies_marshal([stored])
    gem_index.dependencies_json([stored])
    return spec


@fuzz_settings
@given(inputs(GEMSPEC, YAML_TOKENS))
def test_rubygems_gemspec_yaml(text):
    survives(lambda: _gem(tar_of(gem_members(text.decode("latin-1")))), (rubygems.InvalidGem,))


@fuzz_settings
@given(inputs(tar_of(gem_members(GEMSPEC.decode())), COMMON_TOKENS + [b"\x1f\x8b", b"ustar\x00", b"metadata.gz"]))
def test_rubygems_gem_archives(data):
    survives(lambda: _gem(data), (rubygems.InvalidGem,))


@fuzz_settings
@given(inputs(b"---\nSHA256:\n  metadata.gz: abc\n  data.tar.gz: def\n", YAML_TOKENS))
def test_rubygems_checksums_yaml(text):
    members = gem_members(GEMSPEC.decode())
    members["checksums.yaml.gz"] = rubygems.gzip.compress(text)
    survives(lambda: _gem(tar_of(members)), (rubygems.InvalidGem,))


# ---- NuGet -----------------------------------------------------------------------------------------

NUSPEC = nuspec_xml("Acme.Widgets", "1.0.0", dependencies={"net8.0": [("Other", "[1.0, 2.0)")]},
                    repository_url="https://appliance.test/alice/widgets", tags="a b")
XML_TOKENS = COMMON_TOKENS + [b"<", b">", b"</", b"&amp;", b"&x;", b"<!DOCTYPE x>", b'<!ENTITY a "b">',
                              b'encoding="x-nope"', b'encoding="utf-16"', b"<![CDATA[", b"<?pi?>", b"xmlns:a='x'",
                              b"<dependency id='a' version='[9,1]'/>", b"${", b"}", b"${project.version}"]


def _nuspec_served(nuspec):
    _stored(nuspec.fields())
    return nuspec


@fuzz_settings
@given(inputs(NUSPEC, XML_TOKENS))
def test_nuget_nuspecs(data):
    survives(lambda: _nuspec_served(nuget.parse_nuspec(data)), (nuget.InvalidPackage,))


@fuzz_settings
@given(inputs(nupkg_bytes("Acme.Widgets", "1.0.0"), COMMON_TOKENS + [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06",
                                                                       b"PK\x06\x06", b"\x01\x00"]))
def test_nuget_packages(data):
    survives(lambda: _nuspec_served(nuget.read_nupkg(io.BytesIO(data))), (nuget.InvalidPackage,))


@fuzz_settings
@given(st.text(max_size=200))
def test_nuget_ids_versions_and_ranges(text):
    for parse in (nuget.check_id, nuget.normalize_version, nuget.normalize_range):
        survives(lambda parse=parse: parse(text), (nuget.InvalidPackage,))


# ---- Maven -----------------------------------------------------------------------------------------

POM = (b'<?xml version="1.0" encoding="UTF-8"?><project xmlns="http://maven.apache.org/POM/4.0.0">'
       b"<parent><groupId>org.parent</groupId><artifactId>p</artifactId><version>2</version></parent>"
       b"<groupId>com.example</groupId><artifactId>lib</artifactId><version>${revision}</version>"
       b"<properties><revision>1.0</revision><big>xxxxxxxxxxxxxxxx</big></properties>"
       b"<name>${project.artifactId}</name><description>${big}${big}</description>"
       b"<licenses><license><name>MIT</name></license></licenses>"
       b"<dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId><version>${revision}</version>"
       b"</dependency></dependencies></project>")
MODULE = json.dumps({"formatVersion": "1.1", "component": {"group": "com.example", "module": "lib",
                                                           "version": "1.0"},
                     "variants": [{"name": "apiElements"}]}).encode()
JSON_TOKENS = COMMON_TOKENS + [b"[", b"{", b"}", b"]", b",", b":", b"\\ud800", b"1e999999", b"NaN", b"null"]


def _descriptor_served(descriptor):
    descriptor.summary, descriptor.license  # noqa: B018 - what the blueprint reads of it
    _stored(descriptor.fields)
    target = maven.parse_path("com/example/lib/1.0/lib-1.0.pom").target
    try:
        maven.check_descriptor(descriptor, target)
    except maven.InvalidDescriptor:
        pass
    return descriptor


@fuzz_settings
@given(inputs(POM, XML_TOKENS))
def test_maven_poms(data):
    survives(lambda: _descriptor_served(maven.parse_pom(data)), (maven.MavenError,))


@fuzz_settings
@given(inputs(MODULE, JSON_TOKENS))
def test_maven_module_files(data):
    survives(lambda: _descriptor_served(maven.parse_module(data)), (maven.MavenError,))


@fuzz_settings
@given(st.text(max_size=300), st.text(max_size=60))
def test_maven_paths_checksums_and_versions(path, version):
    survives(lambda: maven.parse_path(path), (maven.MavenError,))
    survives(lambda: maven.directory_candidates(path), (maven.MavenError,))
    survives(lambda: maven.parse_checksum(path.encode("utf-8", "surrogatepass"), "sha1"), (maven.MavenError,))
    survives(lambda: sorted([version, "1.0", version + "-SNAPSHOT", "1.0-rc1"], key=maven.version_key), ())


# ---- OCI / Docker ----------------------------------------------------------------------------------

_IMAGE = build_image([b"layer one", b"layer two"])
MANIFEST = _IMAGE.manifest
INDEX = build_index([_IMAGE]).manifest


def _manifest_served(body: bytes):
    manifest = docker.parse_manifest(body, docker.OCI_MANIFEST)
    _stored(docker.manifest_summary(manifest))
    _stored(manifest.referrer_descriptor())
    return manifest


@fuzz_settings
@given(st.one_of(inputs(MANIFEST, JSON_TOKENS), inputs(INDEX, JSON_TOKENS)))
def test_oci_manifests(body):
    survives(lambda: _manifest_served(body), (docker.DistributionError,))


@fuzz_settings
@given(st.text(max_size=300))
def test_oci_names_references_routes_ranges_and_tokens(text):
    for parse in (docker.parse_image_name, docker.parse_reference, docker.parse_content_range, docker.parse_route):
        survives(lambda parse=parse: parse(text), (docker.DistributionError,))
    survives(lambda: bearer.verify(bearer.signing_key("k"), text, 0), (bearer.InvalidBearer,))
    survives(lambda: bearer.parse_scope(text), ())
