"""The Maven layout module on strings and bytes alone: no app, no database, no storage."""

from __future__ import annotations

import hashlib
import json
import random
import time
import tracemalloc
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest

from appliance.formats.maven.metadata import (
    MAX_POM_MARKUP,
    ArtifactFile,
    Coordinates,
    InvalidDescriptor,
    InvalidPath,
    MavenError,
    MetadataFile,
    SnapshotBuild,
    StoredFile,
    artifact_metadata,
    check_descriptor,
    compare_versions,
    content_type,
    directory_candidates,
    parse_checksum,
    parse_module,
    parse_path,
    parse_pom,
    snapshot_metadata,
    version_key,
)

# ---- paths ----------------------------------------------------------------------------------------


def test_a_release_jar_path():
    parsed = parse_path("com/example/lib/1.0/lib-1.0.jar")
    assert parsed.checksum is None
    assert parsed.target == ArtifactFile(
        Coordinates("com.example", "lib"), "1.0", "lib-1.0.jar", "", "jar", None
    )
    assert parsed.target.coordinates.package_name == "com.example:lib"
    assert not parsed.target.is_snapshot and not parsed.target.is_descriptor


@pytest.mark.parametrize(
    ("filename", "classifier", "extension"),
    [
        ("lib-1.0-sources.jar", "sources", "jar"),
        ("lib-1.0.pom", "", "pom"),
        ("lib-1.0.module", "", "module"),
        ("lib-1.0.jar.asc", "", "jar.asc"),
        ("lib-1.0-dist.tar.gz", "dist", "tar.gz"),
        ("lib-1.0-linux-x86_64.so", "linux-x86_64", "so"),
    ],
)
def test_classifiers_and_extensions(filename, classifier, extension):
    target = parse_path(f"org/acme/lib/1.0/{filename}").target
    assert (target.classifier, target.extension) == (classifier, extension)


def test_descriptor_and_signature_flags():
    assert parse_path("g/lib/1.0/lib-1.0.pom").target.is_pom
    assert parse_path("g/lib/1.0/lib-1.0.module").target.is_module
    assert not parse_path("g/lib/1.0/lib-1.0-extra.pom").target.is_descriptor
    assert parse_path("g/lib/1.0/lib-1.0.pom.asc").target.is_signature


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512"])
def test_checksum_paths_name_the_file_they_check(algorithm):
    parsed = parse_path(f"com/example/lib/1.0/lib-1.0.jar.{algorithm}")
    assert parsed.checksum == algorithm
    assert parsed.target.filename == "lib-1.0.jar"


def test_signature_checksums_check_the_signature():
    parsed = parse_path("com/example/lib/1.0/lib-1.0.jar.asc.sha256")
    assert (parsed.target.filename, parsed.checksum) == ("lib-1.0.jar.asc", "sha256")


def test_snapshot_files_plain_and_timestamped():
    plain = parse_path("com/example/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.jar").target
    assert plain.is_snapshot and plain.build is None
    stamped = parse_path("com/example/lib/1.0-SNAPSHOT/lib-1.0-20240102.030405-7-sources.jar").target
    assert stamped.build == SnapshotBuild("20240102.030405", 7)
    assert stamped.classifier == "sources"
    assert stamped.build.value("1.0-SNAPSHOT") == "1.0-20240102.030405-7"


def test_metadata_paths():
    artifact = parse_path("com/example/lib/maven-metadata.xml")
    assert artifact.target == MetadataFile(Coordinates("com.example", "lib"), None)
    snapshot = parse_path("com/example/lib/1.0-SNAPSHOT/maven-metadata.xml.sha1")
    assert snapshot.target == MetadataFile(Coordinates("com.example", "lib"), "1.0-SNAPSHOT")
    assert snapshot.checksum == "sha1"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("com/example/../../other/lib/1.0/lib-1.0.jar", "climbs out"),
        ("com/./example/lib/1.0/lib-1.0.jar", "climbs out"),
        ("com//example/lib/1.0/lib-1.0.jar", "empty segment"),
        ("com\\example/lib/1.0/lib-1.0.jar", "backslash"),
        ("com/example/lib/1.0/lib-1.0.jar\x00", "control characters"),
        ("lib/1.0/lib-1.0.jar", "not a file of the Maven layout"),
        ("com/example/lib/1.0/other-1.0.jar", "is not a file of lib 1.0"),
        ("com/example/lib/1.0/lib-1.1.jar", "is not a file of lib 1.0"),
        ("com/example/lib/1.0/lib-1.0.1.jar", "no valid extension"),
        ("com/example/lib/1.0/lib-1.0", "is not a file of lib 1.0"),
        ("com/example/lib/1.0/lib-1.0-.jar", "no valid classifier"),
        ("com/example/lib/1.0-SNAPSHOT/lib-1.0-2024.jar", "YYYYMMDD.HHMMSS-BUILD"),
        ("com.example/lib/1.0/lib-1.0.jar", "groupId directory"),
        ("com/ex ample/lib/1.0/lib-1.0.jar", "groupId directory"),
        ("com/example/li$b/1.0/li$b-1.0.jar", "invalid artifactId"),
        ("com/example/lib/1 0/lib-1 0.jar", "invalid version"),
        ("com/example/lib/1.0/lib-1.0.jar.sha1.md5", "checksum of a checksum"),
        ("maven-metadata.xml", "not in an artifact's directory"),
    ],
)
def test_bad_paths_say_what_is_wrong(path, message):
    with pytest.raises(InvalidPath, match=message.replace("$", r"\$")):
        parse_path(path)


def test_long_names_are_refused():
    group = "/".join(["g"] * 200)
    with pytest.raises(InvalidPath, match="longer than 255"):
        parse_path(f"{group}/lib/1.0/lib-1.0.jar")


def test_directory_candidates_version_first_then_package():
    assert directory_candidates("com/example/lib/1.0/") == [
        (Coordinates("com.example", "lib"), "1.0"),
        (Coordinates("com.example.lib", "1.0"), None),
    ]
    assert directory_candidates("com/lib") == [(Coordinates("com", "lib"), None)]
    with pytest.raises(InvalidPath, match="climbs out"):
        directory_candidates("com/../lib/")
    with pytest.raises(InvalidPath, match="names no package"):
        directory_candidates("lib/")


# ---- checksums ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512"])
def test_checksum_bodies_in_every_common_shape(algorithm):
    digest = hashlib.new(algorithm, b"x").hexdigest()
    assert parse_checksum(digest.encode(), algorithm) == digest
    assert parse_checksum(f"{digest.upper()}\n".encode(), algorithm) == digest
    assert parse_checksum(f"{digest}  lib-1.0.jar\n".encode(), algorithm) == digest
    assert parse_checksum(f"{algorithm.upper()} (lib-1.0.jar) = {digest}\n".encode(), algorithm) == digest


def test_checksum_bodies_without_a_digest_of_that_length():
    with pytest.raises(MavenError, match="40-digit"):
        parse_checksum(hashlib.md5(b"x").hexdigest().encode(), "sha1")
    with pytest.raises(MavenError, match="32-digit"):
        parse_checksum(b"not a checksum", "md5")


# ---- poms -----------------------------------------------------------------------------------------

POM = b"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>lib</artifactId>
  <version>${revision}</version>
  <name>Lib</name>
  <description>Does ${project.artifactId} things</description>
  <url>https://example.com/lib</url>
  <properties><revision>1.2.3</revision></properties>
  <licenses>
    <license><name>MIT</name><url>https://opensource.org/licenses/MIT</url></license>
    <license><name>Apache-2.0</name></license>
  </licenses>
  <scm><url>https://example.com/lib.git</url></scm>
  <dependencies>
    <dependency><groupId>org.x</groupId><artifactId>y</artifactId><version>${revision}</version>
      <scope>test</scope></dependency>
  </dependencies>
</project>
"""


def test_pom_coordinates_and_fields():
    pom = parse_pom(POM)
    assert (pom.group_id, pom.artifact_id, pom.version) == ("com.example", "lib", "1.2.3")
    assert pom.fields["name"] == "Lib"
    assert pom.fields["description"] == "Does lib things"
    assert pom.fields["url"] == "https://example.com/lib"
    assert pom.fields["packaging"] == "jar"
    assert pom.fields["scm"] == "https://example.com/lib.git"
    assert pom.fields["licenses"] == [
        {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
        {"name": "Apache-2.0", "url": ""},
    ]
    assert pom.fields["dependencies"] == [
        {"groupId": "org.x", "artifactId": "y", "version": "1.2.3", "scope": "test"}
    ]
    assert pom.summary == "Does lib things"
    assert pom.license == "MIT, Apache-2.0"


def test_pom_without_namespace_inherits_from_its_parent():
    pom = parse_pom(
        b"<project><parent><groupId>org.p</groupId><artifactId>parent</artifactId>"
        b"<version>2.0</version></parent><artifactId>child</artifactId><packaging>pom</packaging>"
        b"</project>"
    )
    assert (pom.group_id, pom.artifact_id, pom.version) == ("org.p", "child", "2.0")
    assert pom.fields["parent"] == {"groupId": "org.p", "artifactId": "parent", "version": "2.0"}
    assert pom.fields["packaging"] == "pom"
    assert pom.license is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<project><artifactId>a</artifactId>", "not well-formed"),
        (b"<notaproject/>", "root element is <notaproject>"),
        (b"<project><groupId>g</groupId><artifactId>a</artifactId></project>", "no version"),
        (b"", "not well-formed"),
    ],
)
def test_bad_poms(body, message):
    with pytest.raises(InvalidDescriptor, match=message):
        parse_pom(body)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE project [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version><name>&c;</name></project>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE project [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version><name>&secret;</name></project>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE project SYSTEM "http://127.0.0.1:9/evil.dtd">
<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version></project>
"""


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["expansion", "xxe", "dtd"]
)
def test_poms_with_dtds_or_entities_are_refused_unexpanded(body):
    with pytest.raises(InvalidDescriptor, match="DTD or entities"):
        parse_pom(body)


def test_property_cycles_stay_bounded():
    pom = parse_pom(
        b"<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version>"
        b"<properties><x>${x}${x}</x></properties><name>${x}</name></project>"
    )
    assert len(pom.fields["name"]) <= 4096 * 2


def review_pom(property_bytes: int, references: int) -> bytes:
    """The security review's shape: one big property referenced many times in <description>."""
    return (
        b"<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version>"
        b"<properties><p>" + b"x" * property_bytes + b"</p></properties>"
        b"<description>" + b"${p}" * references + b"</description></project>"
    )


def test_interpolation_stops_at_its_cap_before_building_the_value():
    pom = review_pom(1 << 20, 2048)  # 2 GiB expanded; within the 8 MiB pom limit, far more
    tracemalloc.start()
    started = time.thread_time()  # CPU time: what a worker is kept busy for, whatever the load
    try:
        descriptor = parse_pom(pom)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.thread_time() - started < 1
    assert peak < 16 * 1024 * 1024  # the pom, its tree and its text: nothing the size of an expansion
    assert descriptor.fields["description"] == "${p}" * 2048  # left as it was, not half-expanded


def test_interpolation_within_the_cap_still_resolves():
    descriptor = parse_pom(review_pom(1000, 4))
    assert descriptor.fields["description"] == "x" * 4000


def test_the_work_of_interpolating_one_pom_is_bounded():
    """Many fields each expanding just under the cap: the pom as a whole is refused."""
    dependencies = b"<dependency><groupId>${p}</groupId><artifactId>${p}</artifactId></dependency>" * 300
    pom = (
        b"<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version>"
        b"<properties><p>" + b"x" * 4000 + b"</p></properties>"
        b"<dependencies>" + dependencies + b"</dependencies></project>"
    )
    with pytest.raises(InvalidDescriptor, match="expand to more than"):
        parse_pom(pom)


def test_an_unclosed_run_of_property_references_is_read_in_linear_time():
    pom = (
        b"<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version>"
        b"<description>" + b"${" * (2 << 20) + b"</description></project>"
    )
    started = time.thread_time()  # CPU time: what a worker is kept busy for, whatever the load
    parse_pom(pom)
    assert time.thread_time() - started < 1


def test_a_pom_of_more_markup_than_any_real_one_is_refused_before_it_is_read():
    """8 MiB of <dependency> elements took seconds of a worker to read into a tree and walk."""
    dependency = b"<dependency><groupId>a</groupId><artifactId>b</artifactId><version>1</version></dependency>"
    count = MAX_POM_MARKUP // 8 + 1  # eight tags each
    pom = (b"<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version><dependencies>"
           + dependency * count + b"</dependencies></project>")
    with pytest.raises(InvalidDescriptor, match=f"more than {MAX_POM_MARKUP} tags"):
        parse_pom(pom)
    accepted = parse_pom(pom.replace(dependency * count, dependency * (count - 20)))
    assert len(accepted.fields["dependencies"]) == count - 20


def test_each_field_is_the_first_element_of_its_name_among_many_children():
    pom = (b'<project xmlns="http://maven.apache.org/POM/4.0.0"><groupId>g</groupId>' + b"<x/>" * 5000
           + b"<artifactId>a</artifactId><version>1</version><artifactId>second</artifactId><dependencies>"
           + b"<dependency>" + b"<!-- c --><y/>" * 5000 + b"<groupId>d</groupId><artifactId>e</artifactId>"
           b"<groupId>ignored</groupId></dependency><other/><dependency><artifactId>f</artifactId></dependency>"
           b"</dependencies></project>")
    descriptor = parse_pom(pom)
    assert (descriptor.group_id, descriptor.artifact_id, descriptor.version) == ("g", "a", "1")
    assert descriptor.fields["dependencies"] == [{"groupId": "d", "artifactId": "e"}, {"artifactId": "f"}]


@pytest.mark.parametrize("encoding", ["x-nope", "cp932", "idna", "rot13", "utf-32"])
def test_a_pom_in_an_encoding_we_cannot_read_is_refused(encoding):
    pom = f'<?xml version="1.0" encoding="{encoding}"?><project/>'.encode()
    with pytest.raises(InvalidDescriptor, match="encoding"):
        parse_pom(pom)


# ---- Gradle module files --------------------------------------------------------------------------


def module_file(group="com.example", module="lib", version="1.0") -> bytes:
    return json.dumps(
        {
            "formatVersion": "1.1",
            "component": {"group": group, "module": module, "version": version},
            "variants": [{"name": "apiElements"}, {"name": "runtimeElements"}],
        }
    ).encode()


def test_module_file_coordinates_and_variants():
    module = parse_module(module_file())
    assert (module.group_id, module.artifact_id, module.version) == ("com.example", "lib", "1.0")
    assert module.fields == {
        "gradle": {"formatVersion": "1.1", "variants": ["apiElements", "runtimeElements"]}
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"formatVersion": "1.1"}', "no component"),
        (b'{"component": {"group": "g", "module": "", "version": 1}}', "no module, version"),
        (b"[" * 100_000, "nests too deeply"),
        (b'{"formatVersion": ' + b"9" * 5000 + b"}", "not JSON"),
    ],
)
def test_bad_module_files(body, message):
    with pytest.raises(InvalidDescriptor, match=message):
        parse_module(body)


def test_descriptors_must_name_the_path_they_are_deployed_to():
    target = parse_path("com/example/lib/1.0/lib-1.0.pom").target
    check_descriptor(parse_module(module_file()), target)
    with pytest.raises(
        InvalidDescriptor, match="says version 2.0, but it was deployed to com/example/lib/1.0/"
    ):
        check_descriptor(parse_module(module_file(version="2.0")), target)
    with pytest.raises(InvalidDescriptor, match="says groupId org.other"):
        check_descriptor(parse_module(module_file(group="org.other")), target)
    snapshot = parse_path("com/example/lib/1.0-SNAPSHOT/lib-1.0-20240102.030405-1.pom").target
    check_descriptor(parse_module(module_file(version="1.0-SNAPSHOT")), snapshot)
    # A version a parent pom defines cannot be checked here: the path's is taken.
    check_descriptor(
        parse_pom(
            b"<project><groupId>com.example</groupId><artifactId>lib</artifactId>"
            b"<version>${parent.version}</version></project>"
        ),
        target,
    )


# ---- version order --------------------------------------------------------------------------------

ASCENDING = [
    "0.9",
    "1.0-alpha-1",
    "1.0-alpha2",
    "1.0-beta1",
    "1.0-m1",
    "1.0-rc1",
    "1.0-cr2",
    "1.0-SNAPSHOT",
    "1.0",
    "1.0-sp1",
    "1.0-foo",
    "1.0.1",
    "1.1",
    "1.9",
    "1.10",
    "2.0-SNAPSHOT",
    "2.0",
    "10.0",
]


@pytest.mark.parametrize("seed", range(5))
def test_maven_version_order(seed):
    shuffled = ASCENDING.copy()
    random.Random(seed).shuffle(shuffled)
    assert sorted(shuffled, key=version_key) == ASCENDING


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1", "1.0"),
        ("1.0", "1.0.0"),
        ("1.0-ga", "1"),
        ("1.0-final", "1.0"),
        ("1-RELEASE", "1"),
        ("1.0a1", "1.0-alpha-1"),
    ],
)
def test_equal_versions(a, b):
    assert compare_versions(a, b) == 0


# ---- maven-metadata.xml ---------------------------------------------------------------------------

WHEN = datetime(2024, 1, 2, 3, 4, 5)


def text_of(document: bytes, path: str) -> list[str]:
    return [e.text for e in ET.fromstring(document).findall(path)]


def test_artifact_metadata_lists_versions_in_order_with_latest_and_release():
    document = artifact_metadata(
        Coordinates("com.example", "lib"), ["1.10", "1.9", "2.0-SNAPSHOT", "1.9"], WHEN
    )
    assert text_of(document, "groupId") == ["com.example"]
    assert text_of(document, "artifactId") == ["lib"]
    assert text_of(document, "versioning/versions/version") == ["1.9", "1.10", "2.0-SNAPSHOT"]
    assert text_of(document, "versioning/latest") == ["2.0-SNAPSHOT"]
    assert text_of(document, "versioning/release") == ["1.10"]
    assert text_of(document, "versioning/lastUpdated") == ["20240102030405"]


def test_artifact_metadata_of_snapshots_only_has_no_release():
    document = artifact_metadata(Coordinates("g", "a"), ["1.0-SNAPSHOT"], WHEN)
    assert text_of(document, "versioning/release") == []


def test_snapshot_metadata_names_the_newest_build_per_classifier_and_extension():
    files = [
        StoredFile("lib-1.0-20240101.000000-1.jar", datetime(2024, 1, 1)),
        StoredFile("lib-1.0-20240101.000000-1.pom", datetime(2024, 1, 1)),
        StoredFile("lib-1.0-20240101.000000-1-sources.jar", datetime(2024, 1, 1)),
        StoredFile("lib-1.0-20240105.101010-2.jar", datetime(2024, 1, 5, 10, 10, 11)),
        StoredFile("lib-1.0-20240105.101010-2.pom", datetime(2024, 1, 5, 10, 10, 10)),
        StoredFile("lib-1.0-20240105.101010-2.jar.asc", datetime(2024, 1, 5, 10, 10, 12)),
        StoredFile("unrelated.txt", datetime(2030, 1, 1)),
    ]
    document = snapshot_metadata(Coordinates("com.example", "lib"), "1.0-SNAPSHOT", files)
    root = ET.fromstring(document)
    assert root.get("modelVersion") == "1.1.0"
    assert text_of(document, "version") == ["1.0-SNAPSHOT"]
    assert text_of(document, "versioning/snapshot/timestamp") == ["20240105.101010"]
    assert text_of(document, "versioning/snapshot/buildNumber") == ["2"]
    assert text_of(document, "versioning/lastUpdated") == ["20240105101012"]
    entries = {
        (e.findtext("classifier") or "", e.findtext("extension")): (
            e.findtext("value"),
            e.findtext("updated"),
        )
        for e in root.findall("versioning/snapshotVersions/snapshotVersion")
    }
    assert entries == {
        ("", "jar"): ("1.0-20240105.101010-2", "20240105101011"),
        ("", "pom"): ("1.0-20240105.101010-2", "20240105101010"),
        ("", "jar.asc"): ("1.0-20240105.101010-2", "20240105101012"),
        ("sources", "jar"): ("1.0-20240101.000000-1", "20240101000000"),
    }


def test_snapshot_metadata_of_plain_snapshot_files():
    document = snapshot_metadata(
        Coordinates("g", "lib"), "1.0-SNAPSHOT", [StoredFile("lib-1.0-SNAPSHOT.jar", WHEN)]
    )
    assert text_of(document, "versioning/snapshot") == []
    assert text_of(document, "versioning/snapshotVersions/snapshotVersion/value") == ["1.0-SNAPSHOT"]


def test_metadata_escapes_what_it_writes():
    document = artifact_metadata(Coordinates("g", "a"), ["1.0"], WHEN)
    assert ET.fromstring(document).tag == "metadata"
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


# ---- content types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lib-1.0.jar", "application/java-archive"),
        ("lib-1.0.pom", "application/xml"),
        ("lib-1.0.module", "application/json"),
        ("lib-1.0.jar.asc", "application/pgp-signature"),
        ("lib-1.0.jar.sha1", "text/plain"),
        ("maven-metadata.xml", "application/xml"),
        ("lib-1.0.bin", "application/octet-stream"),
    ],
)
def test_content_types(name, expected):
    assert content_type(name) == expected


def test_version_order_reads_only_ascii_digits_as_numbers():
    """Found by the fuzz run: '²' is a digit to str.isdigit() and no number to int()."""
    assert compare_versions("1.0²", "1.0") != 0
