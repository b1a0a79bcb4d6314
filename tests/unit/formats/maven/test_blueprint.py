"""The Maven repository over HTTP, in process: what a current Gradle's publish sends (Debian's gradle 4.4.1
cannot publish here), downloads, checksums, generated metadata, immutability, snapshots, bad input,
both URL layouts and deletes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from appliance.accounts.service import create_repository
from appliance.models import Account, AuditEvent, DownloadCount, Package, PackageFile, PackageVersion
from appliance.settings import store_setting
from tests.support.maven_http import (
    ALGORITHMS,
    audit_count,
    basic,
    digest,
    jar_bytes,
    module_bytes,
    pom_bytes,
)

DIR = "com/example/widget"


def gradle_publish(
    registry,
    version: str,
    *,
    files: dict[str, bytes] | None = None,
    dir_=DIR,
    group="com.example",
    artifact="widget",
):
    """The requests Gradle's maven-publish sends, in its order: each file then its four checksums, then
    maven-metadata.xml (after a GET) and its checksums. Returns every PUT's status."""
    files = files or {
        f"{artifact}-{version}.jar": jar_bytes(f"{artifact}-{version}"),
        f"{artifact}-{version}.pom": pom_bytes(
            group, artifact, version, description="A widget", url="https://w.example"
        ),
        f"{artifact}-{version}.module": module_bytes(group, artifact, version),
    }
    statuses = {}
    for name, data in files.items():
        statuses[name] = registry.put(f"{dir_}/{version}/{name}", data).status_code
        for algorithm in ALGORITHMS:
            statuses[f"{name}.{algorithm}"] = registry.put(
                f"{dir_}/{version}/{name}.{algorithm}", digest(data, algorithm).encode()
            ).status_code
    registry.get(f"{dir_}/maven-metadata.xml")
    client_metadata = b"<metadata><groupId>whatever</groupId></metadata>"
    statuses["maven-metadata.xml"] = registry.put(f"{dir_}/maven-metadata.xml", client_metadata).status_code
    for algorithm in ALGORITHMS:
        statuses[f"maven-metadata.xml.{algorithm}"] = registry.put(
            f"{dir_}/maven-metadata.xml.{algorithm}", digest(client_metadata, algorithm).encode()
        ).status_code
    return files, statuses


def version_row(name="com.example:widget", version="1.0") -> PackageVersion:
    package = Package.get((Package.format == "maven") & (Package.name == name))
    return PackageVersion.get((PackageVersion.package == package.id) & (PackageVersion.version == version))


def reason(response) -> str:
    return response.status.split(" ", 1)[1]


# ---- a Gradle publish, then everything a client downloads ------------------------------------------


def test_gradle_publish_requests_then_downloads(registry):
    files, statuses = gradle_publish(registry, "1.0")
    assert set(statuses.values()) == {201}, statuses
    for name, data in files.items():
        response = registry.get(f"{DIR}/1.0/{name}")
        assert response.status_code == 200
        assert response.data == data
        assert response.headers["ETag"] == f'"{digest(data, "sha256")}"'
        assert response.headers["Last-Modified"]
        assert response.headers["X-Checksum-Sha1"] == digest(data, "sha1")
        for algorithm in ALGORITHMS:
            checksum = registry.get(f"{DIR}/1.0/{name}.{algorithm}")
            assert checksum.status_code == 200
            assert checksum.data.decode() == digest(data, algorithm)
            assert checksum.mimetype == "text/plain"
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar").mimetype == "application/java-archive"
    assert registry.get(f"{DIR}/1.0/widget-1.0.pom").mimetype == "application/xml"
    assert registry.get(f"{DIR}/1.0/widget-1.0.module").mimetype == "application/json"

    document = registry.get(f"{DIR}/maven-metadata.xml")
    assert document.mimetype == "application/xml"
    root = ET.fromstring(document.data)
    assert root.findtext("groupId") == "com.example" and root.findtext("artifactId") == "widget"
    assert [v.text for v in root.findall("versioning/versions/version")] == ["1.0"]
    assert root.findtext("versioning/release") == "1.0"
    for algorithm in ALGORITHMS:
        assert registry.get(f"{DIR}/maven-metadata.xml.{algorithm}").data.decode() == digest(
            document.data, algorithm
        )

    row = version_row()
    meta = json.loads(row.metadata)
    assert meta["description"] == "A widget" and meta["url"] == "https://w.example"
    assert meta["gradle"]["variants"] == ["apiElements", "runtimeElements"]
    assert row.summary == "A widget" and row.license == "MIT"
    assert sorted(f.name for f in row.files) == sorted(files)
    # Checksums and the client's metadata are answered, never stored.
    assert PackageFile.select().count() == 3


def test_head_and_conditional_requests(registry):
    files, _ = gradle_publish(registry, "1.0")
    jar = files["widget-1.0.jar"]
    head = registry.head(f"{DIR}/1.0/widget-1.0.jar")
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(jar)
    etag = head.headers["ETag"]
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar", headers={"If-None-Match": etag}).status_code == 304
    metadata = registry.get(f"{DIR}/maven-metadata.xml")
    again = registry.get(f"{DIR}/maven-metadata.xml", headers={"If-None-Match": metadata.headers["ETag"]})
    assert again.status_code == 304
    ranged = registry.get(f"{DIR}/1.0/widget-1.0.jar", headers={"Range": "bytes=4-9"})
    assert ranged.status_code == 206 and ranged.data == jar[4:10]


def test_the_client_metadata_is_replaced_by_the_generated_one(registry):
    gradle_publish(registry, "1.0")
    registry.put(
        f"{DIR}/maven-metadata.xml",
        b"<metadata><versioning><versions><version>9.9</version></versions></versioning></metadata>",
    )
    versions = [
        v.text
        for v in ET.fromstring(registry.get(f"{DIR}/maven-metadata.xml").data).findall(
            "versioning/versions/version"
        )
    ]
    assert versions == ["1.0"]


def test_versions_in_metadata_follow_maven_order(registry):
    for version in ("1.10", "1.9", "2.0-rc1", "2.0-SNAPSHOT", "1.0"):
        assert (
            registry.put(
                f"{DIR}/{version}/widget-{version}.pom", pom_bytes("com.example", "widget", version)
            ).status_code
            == 201
        )
    root = ET.fromstring(registry.get(f"{DIR}/maven-metadata.xml").data)
    assert [v.text for v in root.findall("versioning/versions/version")] == [
        "1.0",
        "1.9",
        "1.10",
        "2.0-rc1",
        "2.0-SNAPSHOT",
    ]
    assert root.findtext("versioning/latest") == "2.0-SNAPSHOT"
    assert root.findtext("versioning/release") == "2.0-rc1"


def test_a_jar_before_its_pom_makes_a_version_that_is_listed_once_the_pom_comes(registry):
    assert registry.put(f"{DIR}/1.0/widget-1.0.jar", jar_bytes("early")).status_code == 201
    assert registry.get(f"{DIR}/maven-metadata.xml").status_code == 404
    assert json.loads(version_row().metadata) == {}
    assert (
        registry.put(
            f"{DIR}/1.0/widget-1.0.pom", pom_bytes("com.example", "widget", "1.0", description="late pom")
        ).status_code
        == 201
    )
    assert b"<version>1.0</version>" in registry.get(f"{DIR}/maven-metadata.xml").data
    assert version_row().summary == "late pom"


def test_a_module_file_keeps_what_the_pom_said(registry):
    registry.put(
        f"{DIR}/1.0/widget-1.0.pom", pom_bytes("com.example", "widget", "1.0", description="from pom")
    )
    registry.put(f"{DIR}/1.0/widget-1.0.module", module_bytes("com.example", "widget", "1.0"))
    row = version_row()
    assert row.summary == "from pom"
    assert json.loads(row.metadata)["description"] == "from pom"
    assert "gradle" in json.loads(row.metadata)


def test_pom_downloads_are_counted(registry):
    gradle_publish(registry, "1.0")
    registry.get(f"{DIR}/1.0/widget-1.0.pom")
    registry.get(f"{DIR}/1.0/widget-1.0.pom")
    registry.head(f"{DIR}/1.0/widget-1.0.pom")
    registry.get(f"{DIR}/1.0/widget-1.0.jar")
    registry.get(f"{DIR}/1.0/widget-1.0.pom.sha1")
    assert DownloadCount.select().where(DownloadCount.version == version_row().id).get().count == 2


def test_audit_events_for_a_new_version_and_its_files(registry):
    gradle_publish(registry, "1.0")
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions == ["package_version.publish"] + ["package_file.add"] * 3


# ---- releases are immutable, snapshots are not ------------------------------------------------------


@pytest.mark.parametrize("same_bytes", [True, False], ids=["same-bytes", "other-bytes"])
def test_redeploying_a_release_file_is_refused(registry, same_bytes):
    files, _ = gradle_publish(registry, "1.0")
    before = registry.footprint()
    data = files["widget-1.0.jar"] if same_bytes else jar_bytes("changed")
    response = registry.put(f"{DIR}/1.0/widget-1.0.jar", data)
    assert response.status_code == 409
    assert reason(response) == (
        "widget-1.0.jar already exists in com.example:widget 1.0, and files of a published "
        "version cannot be replaced: publish a new version"
    )
    assert response.data.decode().strip() == reason(response)
    assert registry.footprint() == before
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar").data == files["widget-1.0.jar"]


def test_a_release_takes_new_files_it_did_not_have(registry):
    gradle_publish(registry, "1.0")
    assert registry.put(f"{DIR}/1.0/widget-1.0-sources.jar", jar_bytes("sources")).status_code == 201


def test_snapshot_builds_and_their_metadata(registry):
    version = "2.0-SNAPSHOT"
    for build, stamp in ((1, "20240101.101010"), (2, "20240102.111111")):
        value = f"2.0-{stamp}-{build}"
        files = {
            f"widget-{value}.jar": jar_bytes(value),
            f"widget-{value}.pom": pom_bytes("com.example", "widget", version, description=f"build {build}"),
            f"widget-{value}.module": module_bytes("com.example", "widget", version),
        }
        _, statuses = gradle_publish(registry, version, files=files)
        assert set(statuses.values()) == {201}, statuses
        snapshot_document = f"{DIR}/{version}/maven-metadata.xml"
        assert registry.put(snapshot_document, b"<metadata/>").status_code == 201
    root = ET.fromstring(registry.get(f"{DIR}/{version}/maven-metadata.xml").data)
    assert root.findtext("version") == version
    assert root.findtext("versioning/snapshot/timestamp") == "20240102.111111"
    assert root.findtext("versioning/snapshot/buildNumber") == "2"
    values = {
        e.findtext("extension"): e.findtext("value")
        for e in root.findall("versioning/snapshotVersions/snapshotVersion")
    }
    assert values == {
        "jar": "2.0-20240102.111111-2",
        "pom": "2.0-20240102.111111-2",
        "module": "2.0-20240102.111111-2",
    }
    checksum = registry.get(f"{DIR}/{version}/maven-metadata.xml.sha1").data.decode()
    assert checksum == digest(registry.get(f"{DIR}/{version}/maven-metadata.xml").data, "sha1")
    assert version_row(version=version).summary == "build 2"
    assert b"<latest>2.0-SNAPSHOT</latest>" in registry.get(f"{DIR}/maven-metadata.xml").data
    # Both builds stay downloadable.
    assert registry.get(f"{DIR}/{version}/widget-2.0-20240101.101010-1.jar").data == jar_bytes(
        "2.0-20240101.101010-1"
    )


def test_a_plain_snapshot_file_can_be_replaced(registry):
    path = f"{DIR}/3.0-SNAPSHOT/widget-3.0-SNAPSHOT.jar"
    assert registry.put(path, jar_bytes("one")).status_code == 201
    assert registry.put(path, jar_bytes("two")).status_code == 201
    assert registry.get(path).data == jar_bytes("two")
    assert registry.get(f"{path}.sha1").data.decode() == digest(jar_bytes("two"), "sha1")
    assert [e.action for e in AuditEvent.select().order_by(AuditEvent.id)][-1] == "package_file.replace"


# ---- bad input: the status and message mvn and gradle print, and nothing stored ----------------------


def refused(registry, response, status: int, message: str, before) -> None:
    assert response.status_code == status, response.data
    assert message in reason(response), reason(response)
    assert registry.footprint() == before


def test_checksums_that_disagree_are_refused(registry):
    gradle_publish(registry, "1.0")
    before, events = registry.footprint(), audit_count()
    wrong = digest(b"something else", "sha1")
    response = registry.put(f"{DIR}/1.0/widget-1.0.jar.sha1", wrong.encode())
    refused(
        registry, response, 400, f"checksum mismatch for widget-1.0.jar: the sha1 sent is {wrong}", before
    )
    assert "delete version 1.0" in reason(response)
    assert audit_count() == events
    snapshot = registry.put(f"{DIR}/1.0-SNAPSHOT/widget-1.0-SNAPSHOT.jar", jar_bytes("snap"))
    assert snapshot.status_code == 201
    before = registry.footprint()
    response = registry.put(f"{DIR}/1.0-SNAPSHOT/widget-1.0-SNAPSHOT.jar.md5", digest(b"x", "md5").encode())
    refused(registry, response, 400, "deploy a new build", before)


def test_a_checksum_that_is_not_a_digest(registry):
    gradle_publish(registry, "1.0")
    before = registry.footprint()
    refused(
        registry,
        registry.put(f"{DIR}/1.0/widget-1.0.jar.sha256", b"nonsense"),
        400,
        "holds no 64-digit hexadecimal digest",
        before,
    )


def test_a_checksum_before_its_file(registry):
    before = registry.footprint()
    refused(
        registry,
        registry.put(f"{DIR}/1.0/widget-1.0.jar.sha1", digest(b"x", "sha1").encode()),
        400,
        "came before widget-1.0.jar: upload the file first",
        before,
    )


def test_a_digest_header_that_disagrees_stores_nothing(registry):
    before = registry.footprint()
    response = registry.put(
        f"{DIR}/1.0/widget-1.0.jar", jar_bytes("x"), headers={"X-Checksum-Sha1": digest(b"other", "sha1")}
    )
    refused(registry, response, 400, "widget-1.0.jar does not match its checksum", before)
    good = registry.put(
        f"{DIR}/1.0/widget-1.0.jar",
        jar_bytes("x"),
        headers={"X-Checksum-Sha256": digest(jar_bytes("x"), "sha256")},
    )
    assert good.status_code == 201


XXE_POM = (
    b'<?xml version="1.0"?><!DOCTYPE project [<!ENTITY x SYSTEM "file:///etc/passwd">]><project>'
    b"<groupId>com.example</groupId><artifactId>widget</artifactId><version>1.0</version>"
    b"<name>&x;</name></project>"
)
EXPANDING_POM = (
    b'<?xml version="1.0"?><!DOCTYPE project [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<project><groupId>com.example</groupId><artifactId>widget</artifactId><version>1.0</version>"
    b"<name>&b;</name></project>"
)


@pytest.mark.parametrize(
    ("pom", "message"),
    [
        (
            pom_bytes("com.example", "widget", "2.0"),
            "the pom says version 2.0, but it was deployed to com/example/widget/1.0/ (version 1.0)",
        ),
        (pom_bytes("org.other", "widget", "1.0"), "the pom says groupId org.other"),
        (pom_bytes("com.example", "gadget", "1.0"), "the pom says artifactId gadget"),
        (b"<project><groupId>com.example", "the pom is not well-formed XML"),
        (XXE_POM, "the pom declares a DTD or entities"),
        (EXPANDING_POM, "the pom declares a DTD or entities"),
        (b'<?xml version="1.0" encoding="x-nope"?><project/>', "names an encoding this registry cannot read"),
    ],
    ids=["version", "group", "artifact", "malformed", "xxe", "expansion", "unknown encoding"],
)
def test_bad_poms_are_refused(registry, pom, message):
    before = registry.footprint()
    refused(registry, registry.put(f"{DIR}/1.0/widget-1.0.pom", pom), 400, message, before)


def test_a_module_file_for_other_coordinates_is_refused(registry):
    before = registry.footprint()
    refused(
        registry,
        registry.put(f"{DIR}/1.0/widget-1.0.module", module_bytes("com.example", "widget", "1.1")),
        400,
        "the Gradle module file says version 1.1",
        before,
    )


def test_a_module_file_nested_past_reading_is_refused(registry):
    before = registry.footprint()
    response = registry.put(f"{DIR}/1.0/widget-1.0.module", b"[" * 100_000)
    refused(registry, response, 400, "the Gradle module file nests too deeply", before)


@pytest.mark.parametrize(
    "path",
    [
        "com/example/../../../../etc/widget/1.0/widget-1.0.jar",
        "com/example/%2e%2e/widget/1.0/widget-1.0.jar",
        "com/example/widget/1.0/../1.0/widget-1.0.jar",
    ],
)
def test_paths_that_climb_out_are_refused(registry, path):
    before = registry.footprint()
    response = registry.client.put(
        f"/_registry/maven/alice/libs/{path}",
        data=jar_bytes("climb"),
        headers={**basic("alice", registry.token), "Host": "localhost"},
    )
    refused(registry, response, 400, "climbs out of its directory", before)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("com/example/widget/1.0/gadget-1.0.jar", "gadget-1.0.jar is not a file of widget 1.0"),
        ("widget/1.0/widget-1.0.jar", "not a file of the Maven layout"),
    ],
)
def test_paths_outside_the_layout_are_refused(registry, path, message):
    before = registry.footprint()
    refused(registry, registry.put(path, jar_bytes("x")), 400, message, before)


def test_files_over_the_limit_are_refused(registry):
    store_setting("max_upload_bytes", 1000)
    before = registry.footprint()
    refused(
        registry,
        registry.put(f"{DIR}/1.0/widget-1.0.jar", b"x" * 1001),
        413,
        "this appliance accepts up to 1000",
        before,
    )
    refused(
        registry,
        registry.put(f"{DIR}/1.0/widget-1.0.pom", pom_bytes("com.example", "widget", "1.0") + b" " * 1000),
        413,
        "accepts up to 1000",
        before,
    )
    assert registry.put(f"{DIR}/1.0/widget-1.0.jar", b"x" * 1000).status_code == 201


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "authentication required: put a token as the password"),
        (basic("alice", "apt_not-a-token"), "bad credentials: the token is unknown, expired or revoked"),
        (basic("alice", ""), "HTTP Basic credentials need a token as the password"),
    ],
    ids=["missing", "wrong", "empty-password"],
)
def test_a_missing_or_wrong_token(registry, auth, message):
    before = registry.footprint()
    response = registry.put(f"{DIR}/1.0/widget-1.0.jar", jar_bytes("x"), auth=auth or {})
    refused(registry, response, 401, message, before)
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_a_package_belongs_to_one_repository(registry):
    gradle_publish(registry, "1.0")
    before = registry.footprint()
    response = registry.put(
        f"{DIR}/1.1/widget-1.1.pom", pom_bytes("com.example", "widget", "1.1"), repository="alice/other"
    )
    refused(
        registry,
        response,
        409,
        "com.example:widget belongs to the repository alice/libs: publish it there",
        before,
    )
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar", repository="alice/other").status_code == 404


def test_names_differing_only_in_case(registry):
    gradle_publish(registry, "1.0")
    before = registry.footprint()
    refused(
        registry,
        registry.put("com/example/Widget/1.1/Widget-1.1.pom", pom_bytes("com.example", "Widget", "1.1")),
        400,
        "differs only in case from the existing package com.example:widget",
        before,
    )


def test_deploying_to_a_repository_that_does_not_exist(registry):
    before = registry.footprint()
    response = registry.put(f"{DIR}/1.0/widget-1.0.jar", jar_bytes("x"), repository="alice/nowhere")
    # 403, not 404: mvn prints a 403's reason phrase and turns a 404 into "Could not find artifact".
    refused(registry, response, 403, "create it (`appliance repos create alice/nowhere`)", before)


# ---- URL layouts and the format switch ---------------------------------------------------------------


def test_subdomain_layout(registry):
    store_setting("subdomain_isolation", True)
    put = registry.client.put(
        f"/alice/libs/{DIR}/1.0/widget-1.0.pom",
        data=pom_bytes("com.example", "widget", "1.0"),
        headers={**basic("alice", registry.token), "Host": "maven.localhost"},
    )
    assert put.status_code == 201
    got = registry.client.get(f"/alice/libs/{DIR}/maven-metadata.xml", headers={"Host": "maven.localhost"})
    assert got.status_code == 200 and b"<version>1.0</version>" in got.data
    # the path layout keeps answering while isolation is on, so configured URLs survive the switch
    by_path = registry.get(f"{DIR}/maven-metadata.xml")
    assert by_path.status_code == 200 and by_path.data == got.data


def test_path_layout_refuses_the_subdomain(registry):
    response = registry.client.get(
        f"/alice/libs/{DIR}/maven-metadata.xml", headers={"Host": "maven.localhost"}
    )
    assert response.status_code == 404
    assert "served at http://localhost/_registry/maven/ (subdomain isolation is off)" in reason(response)


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        (
            "GET",
            "/_registry/maven/alice",
            404,
            "a Maven repository is at http://localhost/_registry/maven/OWNER/REPOSITORY/",
        ),
        ("POST", f"/_registry/maven/alice/libs/{DIR}/1.0/widget-1.0.jar", 405, "POST is not supported here"),
    ],
)
def test_urls_that_match_no_route_answer_as_maven_errors(registry, method, path, status, message):
    response = registry.client.open(path, method=method, headers={"Host": "localhost"})
    assert response.status_code == status
    assert message in reason(response)
    assert response.mimetype == "text/plain"


def test_a_disabled_format(registry):
    store_setting("formats.maven.enabled", False)
    before = registry.footprint()
    refused(
        registry,
        registry.put(f"{DIR}/1.0/widget-1.0.jar", jar_bytes("x")),
        403,
        "the maven registry is switched off on this appliance",
        before,
    )


# ---- deleting ----------------------------------------------------------------------------------------


def test_delete_a_version_then_the_package(registry):
    gradle_publish(registry, "1.0")
    gradle_publish(registry, "1.1")
    assert registry.delete(f"{DIR}/1.0/").status_code == 204
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar").status_code == 404
    assert [
        v.text
        for v in ET.fromstring(registry.get(f"{DIR}/maven-metadata.xml").data).findall(
            "versioning/versions/version"
        )
    ] == ["1.1"]
    again = registry.put(f"{DIR}/1.0/widget-1.0.jar", jar_bytes("again"))
    assert again.status_code == 409 and "was deleted and can be restored" in reason(again)
    assert registry.delete(f"{DIR}/").status_code == 204
    assert registry.get(f"{DIR}/maven-metadata.xml").status_code == 404
    assert registry.get(f"{DIR}/1.1/widget-1.1.jar").status_code == 404
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions[-2:] == ["package_version.delete", "package.delete"]


def test_delete_without_trailing_slash_and_of_nothing(registry):
    gradle_publish(registry, "1.0")
    assert registry.delete(f"{DIR}/1.0").status_code == 204
    missing = registry.delete(f"{DIR}/9.9/")
    assert missing.status_code == 404 and "no package or version at" in reason(missing)


def test_files_are_not_deleted_one_by_one(registry):
    gradle_publish(registry, "1.0")
    response = registry.delete(f"{DIR}/1.0/widget-1.0.jar")
    assert response.status_code == 405
    assert "DELETE the version's directory" in reason(response)
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar").status_code == 200


def test_reason_phrases_are_one_latin1_line(registry):
    response = registry.put(f"{DIR}/1.0/widget-1.0.pom", "<project>\u2603\n<broken".encode())
    assert response.status_code == 400
    assert "\n" not in response.status
    response.status.encode("latin-1")


def test_signatures_are_files_with_checksums_of_their_own(registry):
    gradle_publish(registry, "1.0")
    signature = b"-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
    assert registry.put(f"{DIR}/1.0/widget-1.0.jar.asc", signature).status_code == 201
    assert (
        registry.put(f"{DIR}/1.0/widget-1.0.jar.asc.sha256", digest(signature, "sha256").encode()).status_code
        == 201
    )
    response = registry.get(f"{DIR}/1.0/widget-1.0.jar.asc")
    assert response.data == signature and response.mimetype == "application/pgp-signature"
    assert registry.get(f"{DIR}/1.0/widget-1.0.jar.asc.md5").data.decode() == digest(signature, "md5")
    head = registry.head(f"{DIR}/1.0/widget-1.0.jar.asc.sha1")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == 40


@pytest.mark.parametrize(
    ("method", "needs"),
    [
        ("GET", "with read:packages"),
        ("PUT", "with write:packages"),
        ("DELETE", "with delete:packages, read:packages and repo"),
    ],
)
def test_the_challenge_names_the_scopes_of_the_request(registry, method, needs):
    create_repository(Account.get(Account.login == "alice"), "secret", "private")
    path = f"{DIR}/1.0/" if method == "DELETE" else f"{DIR}/1.0/widget-1.0.jar"
    response = registry.client.open(
        registry.url(path, "alice/secret"), method=method, data=b"x", headers={"Host": "localhost"}
    )
    assert response.status_code == 401
    assert reason(response).endswith(needs)
